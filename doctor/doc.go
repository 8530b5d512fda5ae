// Package doctor is `trtserve doctor`: one call that says what a host can
// do on its GPU side and measures it. It owns the checks and their
// report, not the measurements themselves, which live beside what they
// measure (cuda.MeasureCopy, cuda.AllocCycles, simgpu.MeasureOverlap, the
// server's metrics.GPUCollector) so the doctor, the GPU tests and the
// server share one implementation.
//
// It reports: the libraries the server would load (libcudart, NVML, the
// TensorRT shim and the TensorRT behind it, the simulated kernel), found or
// why not; the GPU's facts (driver, CUDA runtime and driver versions,
// compute capability, memory); pinned, write-combined and pageable H2D and
// D2H bandwidth with D2D as the device's reference; copy/compute overlap of
// the simulated engine; 10,000 pinned and device alloc/free cycles with no
// growth; and NVML's metrics read on the device. Only the --gpu device
// gets a CUDA context.
//
// Without a GPU it checks nothing, says "no GPU: nothing checked" with
// what was found or missing and why, and that is not a failure. Under
// TRTSERVE_CUDA_MOCK=1 the checks run on cudamock.Mock (host memory) so the
// report and the growth check can be tested anywhere; every figure is then
// labelled MOCK and says nothing about hardware.
//
// It reads no environment: library paths, the GPU and the mock (as
// Options.Runtime) come from its caller, which has them from package
// config.
package doctor
