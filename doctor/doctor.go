package doctor

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines/simgpu"
	"github.com/trtserve/trtserve/metrics"
	"github.com/trtserve/trtserve/trt"
)

// ErrProblems: a check ran and found something wrong (memory grew, overlap
// below target, a measurement failed). "No GPU" is not a problem.
var ErrProblems = errors.New("doctor: checks found problems")

// Options say which device and libraries to check. Zero values search
// as the server does.
type Options struct {
	GPU int
	// Library paths, as the server's flags (--cudart-lib, --trtshim-lib,
	// --tensorrt-lib) and TRTSERVE_SIMKERNEL_LIB.
	CUDALib, ShimLib, TensorRTLib, SimKernelLib string
	// Mock: Runtime is the CUDA mock (TRTSERVE_CUDA_MOCK, in a binary
	// built with the tag cudamock); the checks run with simgpu.HostKernel
	// and every figure is labelled MOCK.
	Mock bool
	// Quick uses small sizes and few rounds (tests; a first look).
	Quick bool
	// Progress gets a line per check as it starts (nil: none).
	Progress io.Writer
	// Alloc sizes the alloc/free cycles (zero: 10,000 cycles of 64 KiB
	// pinned and 1 MiB device memory, 64 MiB tolerance).
	Alloc cuda.AllocCyclesOptions

	// Seams for tests: a runtime used instead of opening one (the doctor
	// does not close it), NVML instead of the real library.
	Runtime cuda.Runtime
	NVML    nvml.Interface
}

// Component is one library or device the server may use: found, and
// what it is, or why not.
type Component struct {
	Name   string
	Found  bool
	Detail string
}

// Facts describe the checked GPU.
type Facts struct {
	Device                     cuda.DeviceInfo
	Runtime                    string // "libcudart 13.0", or the mock's name
	RuntimeVersion, CUDADriver int    // 13000 = 13.0
	FreeMemory                 int64
	NVMLDriver, NVMLCUDADriver string // NVML's driver version string, and its CUDA version
	DeviceCount                int
}

// NVMLReading is one GPU metric as the server's /metrics reports it.
type NVMLReading struct {
	GPU    string // UUID
	Metric string
	Value  float64
}

// Report is everything one doctor run found.
type Report struct {
	When       time.Time
	Mock       bool
	Quick      bool
	Components []Component
	// GPU is nil when there was no usable GPU; NoGPU then says why.
	GPU   *Facts
	NoGPU string

	Bandwidth []cuda.Bandwidth
	Overlap   *simgpu.Overlap
	// OverlapSkipped says why Overlap is nil on a host with a GPU.
	OverlapSkipped string
	Alloc          *cuda.AllocCyclesResult
	NVML           []NVMLReading
	NVMLDevice     string // which NVML device the readings are of, or why none
	// Problems are checks that failed or found a fault, one line each.
	Problems []string
	// Took is the whole run's wall time.
	Took time.Duration

	nvmlDriver, nvmlCUDA string // from checkNVML, for the facts
}

// OverlapTarget is the efficiency the simulated engine's overlap should
// reach (speedup ÷ ideal), as TestGPUOverlap asserts.
const OverlapTarget = 0.8

// Run checks the host. Without a GPU it returns a report with GPU nil and
// no error; the error is for checks that found problems (ErrProblems) —
// the report is complete either way.
func Run(o Options) (*Report, error) {
	t0 := time.Now()
	r := &Report{When: t0.UTC(), Mock: o.Mock, Quick: o.Quick}
	defer func() { r.Took = time.Since(t0) }()
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "doctor: "+format+"\n", args...)
		}
	}

	rt, closeRT := r.openRuntime(o)
	defer closeRT()
	lib := o.NVML
	if lib == nil {
		lib = nvml.New()
	}
	r.checkNVML(lib)
	r.checkShim(o)
	kernel, closeKernel := r.openKernel(o, rt)
	defer closeKernel()
	if rt == nil {
		return r, nil
	}

	err := cuda.OnDevice(rt, o.GPU, func() error {
		progress("GPU %d facts", o.GPU)
		if err := r.facts(rt, o.GPU); err != nil {
			return err
		}
		progress("copy bandwidth")
		r.bandwidth(rt, o.Quick)
		progress("10,000 alloc/free cycles")
		r.allocCycles(rt, o.Alloc)
		return nil
	})
	if err != nil {
		r.GPU, r.NoGPU = nil, err.Error()
		if errors.Is(err, cuda.ErrNoDevice) {
			return r, nil
		}
		r.problem("GPU %d: %v", o.GPU, err)
		return r, ErrProblems
	}
	if kernel != nil {
		progress("copy/compute overlap of the simulated engine")
		r.overlap(rt, kernel, o)
	} else {
		r.OverlapSkipped = "not measured: no simulated kernel (see its component line; make simkernel)"
	}
	progress("NVML metrics")
	r.readNVML(lib)
	if len(r.Problems) > 0 {
		return r, ErrProblems
	}
	return r, nil
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) component(name string, found bool, format string, args ...any) {
	// errors.Join puts each reason on a line of its own: one line here.
	detail := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "; ")
	r.Components = append(r.Components, Component{name, found, detail})
}

// openRuntime is libcudart (or the mock) with the --gpu device present;
// nil, with the reason recorded, when there is none.
func (r *Report) openRuntime(o Options) (cuda.Runtime, func()) {
	nop := func() {}
	var rt cuda.Runtime
	closeRT := nop
	switch {
	case o.Runtime != nil:
		rt = o.Runtime
	default:
		var err error
		if rt, err = cuda.Open(o.CUDALib); err != nil {
			r.component("libcudart", false, "%v", err)
			r.NoGPU = err.Error()
			return nil, nop
		}
		closeRT = func() { rt.Close() }
	}
	label := rt.Name()
	if o.Mock {
		label += " — MOCK (TRTSERVE_CUDA_MOCK): no GPU is used"
	}
	r.component("libcudart", true, "%s", label)
	n, err := rt.DeviceCount()
	if err == nil && o.GPU >= n {
		err = fmt.Errorf("%w: --gpu %d, but %d device(s) are visible", cuda.ErrNoDevice, o.GPU, n)
	}
	if err != nil {
		r.component("GPU", false, "%v", err)
		r.NoGPU = err.Error()
		closeRT()
		return nil, nop
	}
	r.GPU = &Facts{DeviceCount: n}
	return rt, closeRT
}

func (r *Report) facts(rt cuda.Runtime, gpu int) error {
	info, err := rt.DeviceInfo(gpu)
	if err != nil {
		return err
	}
	f := r.GPU
	f.Device, f.Runtime = info, rt.Name()
	f.NVMLDriver, f.NVMLCUDADriver = r.nvmlDriver, r.nvmlCUDA
	if f.RuntimeVersion, f.CUDADriver, err = rt.Version(); err != nil {
		return err
	}
	if f.FreeMemory, _, err = rt.MemGetInfo(); err != nil {
		return err
	}
	r.component("GPU", true, "%d: %s, %s, %d MiB, %d copy engines", gpu, info.Name, info.ComputeCapability(), info.TotalMemory>>20, info.CopyEngines)
	return nil
}

func (r *Report) checkNVML(lib nvml.Interface) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		why := ret.Error()
		if errors.Is(ret, nvml.ERROR_LIBRARY_NOT_FOUND) {
			why = "libnvidia-ml.so.1 not found (no NVIDIA driver, or a container run without --gpus)"
		}
		r.component("NVML", false, "%s", why)
		return
	}
	defer lib.Shutdown()
	drv, ret := lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		drv = "unknown (" + ret.Error() + ")"
	}
	cv, ret := lib.SystemGetCudaDriverVersion()
	cudaDrv := "unknown"
	if ret == nvml.SUCCESS {
		cudaDrv = fmt.Sprintf("%d.%d", cv/1000, cv%1000/10)
	}
	n, _ := lib.DeviceGetCount()
	r.nvmlDriver, r.nvmlCUDA = drv, cudaDrv
	r.component("NVML", true, "driver %s (CUDA %s), %d device(s)", drv, cudaDrv, n)
}

func (r *Report) checkShim(o Options) {
	lib, err := trt.OpenWith(o.ShimLib, trt.OpenOptions{TensorRTLib: o.TensorRTLib, AllowEngineHostCode: true})
	if err != nil {
		r.component("TensorRT shim", false, "%v", err)
		r.component("TensorRT", false, "not checked: no shim")
		return
	}
	i := lib.Info()
	r.component("TensorRT shim", true, "%s (ABI %d, built against TensorRT %s, CUDA %s)", i.Path, i.ABI, i.Header, cudaVersion(i.CUDAVersion))
	if i.RuntimeVersion == 0 {
		// No TensorRT library behind the shim (csrc/fake's CPU math).
		r.component("TensorRT", false, "none behind this shim: %s", i.Description)
		return
	}
	r.component("TensorRT", true, "%s runtime %d at %s; can build: %v; plugins: %v", i.Runtime, i.RuntimeVersion, i.TensorRTPath, i.CanBuild, i.Plugins)
}

func cudaVersion(v int) string {
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

func (r *Report) openKernel(o Options, rt cuda.Runtime) (simgpu.Launcher, func()) {
	if o.Mock || o.Runtime != nil {
		r.component("simulated kernel", rt != nil, "host stand-in (simgpu.HostKernel): MOCK, nothing runs on a GPU")
		if rt == nil {
			return nil, func() {}
		}
		return simgpu.HostKernel{Runtime: rt}, func() {}
	}
	k, err := cuda.LoadSimKernel(o.SimKernelLib)
	if err != nil {
		r.component("simulated kernel", false, "%v", err)
		return nil, func() {}
	}
	r.component("simulated kernel", true, "%s", k.Path())
	if rt == nil {
		k.Close()
		return nil, func() {}
	}
	return k, func() { k.Close() }
}

// Copy sizes: a small input batch, a 640×640 FP32 batch of 4 rounded up,
// and a size where per-copy overheads vanish.
var (
	copySizes      = []int{1 << 20, 16 << 20, 64 << 20}
	quickCopySizes = []int{64 << 10, 1 << 20}
)

func (r *Report) bandwidth(rt cuda.Runtime, quick bool) {
	sizes, o := copySizes, cuda.BandwidthOptions{Round: 150 * time.Millisecond, Rounds: 3}
	if quick {
		sizes, o = quickCopySizes, cuda.BandwidthOptions{Round: 5 * time.Millisecond, Rounds: 1}
	}
	for _, dir := range []cuda.Direction{cuda.HtoD, cuda.DtoH} {
		for _, mem := range cuda.HostMemories {
			for _, size := range sizes {
				b, err := cuda.MeasureCopy(rt, dir, mem, size, o)
				if err != nil {
					r.problem("%s %s %d bytes: %v", dir, mem, size, err)
					continue
				}
				r.Bandwidth = append(r.Bandwidth, b)
			}
		}
	}
	for _, size := range sizes {
		b, err := cuda.MeasureCopy(rt, cuda.DtoD, cuda.DeviceMemory, size, o)
		if err != nil {
			r.problem("D2D %d bytes: %v", size, err)
			continue
		}
		r.Bandwidth = append(r.Bandwidth, b)
	}
}

func (r *Report) allocCycles(rt cuda.Runtime, o cuda.AllocCyclesOptions) {
	res, err := cuda.AllocCycles(rt, o)
	if err != nil {
		r.problem("alloc/free cycles: %v", err)
		return
	}
	r.Alloc = &res
	if err := res.Check(); err != nil {
		r.problem("%v", err)
	}
}

func (r *Report) overlap(rt cuda.Runtime, k simgpu.Launcher, o Options) {
	pool := cuda.NewPool(rt, cuda.PoolOptions{})
	defer pool.Close()
	oo := simgpu.OverlapOptions{Runtime: rt, Kernel: k, Pool: pool, Device: o.GPU}
	if o.Quick {
		oo.Batch, oo.InBytes, oo.OutBytes, oo.Batches = 2, 256<<10, 64<<10, 8
	}
	var ov simgpu.Overlap
	err := cuda.OnDevice(rt, o.GPU, func() (err error) {
		ov, err = simgpu.MeasureOverlap(oo)
		return err
	})
	if err != nil {
		r.problem("overlap: %v", err)
		return
	}
	r.Overlap = &ov
	if !r.Mock && ov.Efficiency < OverlapTarget {
		r.problem("copy/compute overlap efficiency %.2f, below the target %.2f", ov.Efficiency, OverlapTarget)
	}
}

// readNVML reads the metrics the server exports, through its collector.
func (r *Report) readNVML(lib nvml.Interface) {
	c, err := metrics.NewGPUCollectorFrom(lib)
	if err != nil {
		r.NVMLDevice = err.Error()
		return
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		r.NVMLDevice = err.Error()
		return
	}
	fams, err := reg.Gather()
	if err != nil {
		r.problem("NVML metrics: %v", err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var uuid string
			for _, l := range m.GetLabel() {
				if l.GetName() == "gpu_uuid" {
					uuid = l.GetValue()
				}
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			r.NVML = append(r.NVML, NVMLReading{GPU: uuid, Metric: f.GetName(), Value: v})
		}
	}
	sort.Slice(r.NVML, func(i, j int) bool {
		if r.NVML[i].GPU != r.NVML[j].GPU {
			return r.NVML[i].GPU < r.NVML[j].GPU
		}
		return r.NVML[i].Metric < r.NVML[j].Metric
	})
	r.NVMLDevice = fmt.Sprintf("%d GPU(s) by UUID", len(c.UUIDs()))
	if len(r.NVML) == 0 {
		r.problem("NVML: no metric could be read on %d GPU(s)", len(c.UUIDs()))
	}
}
