package gpustack

import (
	"fmt"
	"log/slog"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/trt"
)

// Options say which libraries make the stack and which GPU it runs on.
type Options struct {
	// ShimLib is libtrtshim.so ("" searches trt.Candidates); TensorRTLib
	// the TensorRT library the shim opens ("" searches the usual names).
	ShimLib, TensorRTLib string
	// AllowEngineHostCode lets plans run the host code they embed
	// (version-compatible plans): only for plans you trust.
	AllowEngineHostCode bool
	// Check, when set, refuses a shim unfit for the job (build: a runtime
	// that cannot build) before CUDA is touched.
	Check func(trt.Info) error
	// CUDALib is libcudart ("" searches, the CUDA major of TensorRT first).
	CUDALib string
	// OpenRuntime, when set, opens the CUDA runtime instead of libcudart
	// (the CUDA mock of the tests). The stack owns what it returns.
	OpenRuntime func() (cuda.Runtime, error)
	// NeedRuntime opens CUDA even when the shim runs no GPU code itself
	// (trt.Info.NeedsDevice false): the server's pinned pool and copies
	// need it whatever the shim.
	NeedRuntime bool
	// GPU is the device index to run on; no other GPU gets a context.
	GPU int
	// OnFault, when set, hears the first sticky CUDA error of any call
	// through Stack.Runtime (cuda.Watch): the device is lost for the
	// process.
	OnFault func(error)
	// Log gets the warnings (a libcudart of another CUDA major); nil
	// discards them.
	Log *slog.Logger
}

// Stack is the opened GPU stack.
type Stack struct {
	// Shim is the TensorRT shim, Info what it and its TensorRT are. The
	// shim stays loaded after Close: TensorRT is process-wide.
	Shim *trt.Library
	Info trt.Info
	// Runtime is CUDA, watched for faults when Options.OnFault is set;
	// nil when the shim needs no device and Options.NeedRuntime is false.
	Runtime cuda.Runtime
	// GPU is Options.GPU, Device its description (zero without Runtime).
	GPU    int
	Device cuda.DeviceInfo
}

// CUDAError is Open's error when the shim opened but CUDA or the GPU did
// not: callers say what they needed the GPU for. A shim that does not
// open fails with trt.ErrNoShim instead.
type CUDAError struct{ Err error }

func (e *CUDAError) Error() string { return e.Err.Error() }
func (e *CUDAError) Unwrap() error { return e.Err }

// Open opens the shim, then (when the shim needs a device, or NeedRuntime)
// the CUDA runtime, and checks that GPU exists. Describing the device
// creates no context on it: that is left to the first call on it
// (OnDevice). On error nothing stays open but the shim.
func Open(o Options) (*Stack, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The shim first: it needs no CUDA, and says which CUDA major
	// TensorRT was built for, whose libcudart is then tried first.
	lib, err := trt.OpenWith(o.ShimLib, trt.OpenOptions{TensorRTLib: o.TensorRTLib, AllowEngineHostCode: o.AllowEngineHostCode})
	if err != nil {
		return nil, err
	}
	s := &Stack{Shim: lib, Info: lib.Info(), GPU: o.GPU}
	if o.Check != nil {
		if err := o.Check(s.Info); err != nil {
			return nil, err
		}
	}
	if !s.Info.NeedsDevice && !o.NeedRuntime {
		return s, nil
	}
	var rt cuda.Runtime
	if o.OpenRuntime != nil {
		rt, err = o.OpenRuntime()
	} else {
		rt, err = openCUDART(o.CUDALib, s.Info.CUDAVersion, log)
	}
	if err != nil {
		return nil, &CUDAError{err}
	}
	if o.OnFault != nil {
		// Every CUDA call through the stack (pool, loads, instances) goes
		// through the watch: the first sticky error is reported once,
		// whoever meets it.
		rt = cuda.Watch(rt, o.OnFault)
	}
	n, err := rt.DeviceCount()
	if err == nil && (o.GPU < 0 || o.GPU >= n) {
		err = fmt.Errorf("%w: --gpu %d, but this machine has %d GPUs", cuda.ErrNoDevice, o.GPU, n)
	}
	if err == nil {
		s.Device, err = rt.DeviceInfo(o.GPU)
	}
	if err != nil {
		rt.Close()
		return nil, &CUDAError{err}
	}
	s.Runtime = rt
	return s, nil
}

// openCUDART opens libcudart, the CUDA major TensorRT was built for
// (cudaVersion, e.g. 13000; 0 = unknown) first, and says so when only
// another major is here.
func openCUDART(path string, cudaVersion int, log *slog.Logger) (cuda.Runtime, error) {
	want := cudaVersion / 1000
	rt, err := cuda.OpenFor(path, want)
	if err != nil {
		return nil, err
	}
	if v, _, verr := rt.Version(); verr == nil && want > 0 && v/1000 != want {
		log.Warn("libcudart is not of the CUDA major TensorRT was built for: using it anyway (install the matching runtime, or point --cudart-lib at it)",
			"tensorrt_cuda", fmt.Sprintf("%d.%d", want, cudaVersion%1000/10), "libcudart", rt.Name())
	}
	return rt, nil
}

// OnDevice runs f on a thread whose current CUDA device is the stack's GPU,
// as TensorRT's builds, loads and frees need (cuda.OnDevice); without a
// runtime it just runs f.
func (s *Stack) OnDevice(f func() error) error { return cuda.OnDevice(s.Runtime, s.GPU, f) }

// Close closes the CUDA runtime, if one was opened.
func (s *Stack) Close() error {
	if s == nil || s.Runtime == nil {
		return nil
	}
	return s.Runtime.Close()
}
