package trt

/*
#include <stdlib.h>
#include "shim_go.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// Precision is what the builder may use.
type Precision int

// Precisions (trtshim.h TRTSHIM_PRECISION_*).
const (
	FP32          Precision = C.TRTSHIM_PRECISION_FP32
	FP16          Precision = C.TRTSHIM_PRECISION_FP16
	BF16Precision Precision = C.TRTSHIM_PRECISION_BF16
	INT8          Precision = C.TRTSHIM_PRECISION_INT8
	StronglyTyped Precision = C.TRTSHIM_PRECISION_STRONGLY_TYPED
)

var precisionNames = map[string]Precision{"fp32": FP32, "fp16": FP16, "bf16": BF16Precision, "int8": INT8, "strongly-typed": StronglyTyped}

// ParsePrecision reads a --precision value.
func ParsePrecision(s string) (Precision, error) {
	if p, ok := precisionNames[s]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("%w: precision %q (want fp32, fp16, bf16, int8 or strongly-typed)", ErrInvalidArgument, s)
}

func (p Precision) String() string {
	for k, v := range precisionNames {
		if v == p {
			return k
		}
	}
	return fmt.Sprintf("precision(%d)", int(p))
}

// HardwareCompat is the plan's hardware compatibility level.
type HardwareCompat int

// Levels (trtshim.h TRTSHIM_HWCOMPAT_*).
const (
	HWCompatNone                  HardwareCompat = C.TRTSHIM_HWCOMPAT_NONE
	HWCompatAmperePlus            HardwareCompat = C.TRTSHIM_HWCOMPAT_AMPERE_PLUS
	HWCompatSameComputeCapability HardwareCompat = C.TRTSHIM_HWCOMPAT_SAME_COMPUTE_CAPABILITY
)

// ProfileDim is one dynamic input's range.
type ProfileDim struct {
	Name          string
	Min, Opt, Max []int64
}

// Progress reports build phases. Step returns false to cancel the build.
type Progress interface {
	Start(phase, parent string, steps int)
	Step(phase string, step int) bool
	Finish(phase string)
}

// BuildOptions are trtshim_build_options.
type BuildOptions struct {
	Precision         Precision
	WorkspaceBytes    int64 // 0: TensorRT's default
	OptimizationLevel int   // -1: default
	HardwareCompat    HardwareCompat
	VersionCompat     bool
	// DisableTF32 clears TensorRT's kTF32 builder flag, which is on by
	// default: layers that run in fp32 then get no TF32 kernels (strict
	// fp32). The zero value keeps TensorRT's default, as the C struct does.
	DisableTF32 bool
	Profile     []ProfileDim
	TimingCache []byte
	Progress    Progress
}

// Build compiles ONNX bytes into a serialized engine. modelDir is where
// external weights live ("" for none). It returns the plan and the updated
// timing cache. It runs for seconds to minutes on the calling thread.
func (l *Library) Build(onnx []byte, modelDir string, o BuildOptions) (plan, timingCache []byte, err error) {
	if len(onnx) == 0 {
		return nil, nil, fmt.Errorf("%w: empty ONNX model", ErrParse)
	}
	// Everything the shim reads is copied to C memory: the build may run
	// on TensorRT's own threads, and cgo forbids C keeping Go pointers.
	var free []unsafe.Pointer
	defer func() {
		for _, p := range free {
			C.free(p)
		}
	}()
	cbytes := func(b []byte) unsafe.Pointer {
		p := C.CBytes(b)
		free = append(free, p)
		return p
	}
	copts := (*C.trtshim_build_options)(C.calloc(1, C.size_t(unsafe.Sizeof(C.trtshim_build_options{}))))
	free = append(free, unsafe.Pointer(copts))
	copts.precision = C.int32_t(o.Precision)
	copts.workspace_bytes = C.int64_t(o.WorkspaceBytes)
	copts.optimization_level = C.int32_t(o.OptimizationLevel)
	copts.hardware_compat = C.int32_t(o.HardwareCompat)
	if o.VersionCompat {
		copts.version_compat = 1
	}
	if o.DisableTF32 {
		copts.disable_tf32 = 1
	}
	if n := len(o.Profile); n > 0 {
		prof := (*C.trtshim_profile_dim)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.trtshim_profile_dim{}))))
		free = append(free, unsafe.Pointer(prof))
		ps := unsafe.Slice(prof, n)
		for i, p := range o.Profile {
			cn := C.CString(p.Name)
			free = append(free, unsafe.Pointer(cn))
			ps[i].name = cn
			for _, d := range []struct {
				dst *C.trtshim_dims
				src []int64
			}{{&ps[i].min, p.Min}, {&ps[i].opt, p.Opt}, {&ps[i].max, p.Max}} {
				cd, err := cdims(d.src)
				if err != nil {
					return nil, nil, fmt.Errorf("profile %s: %w", p.Name, err)
				}
				*d.dst = cd
			}
		}
		copts.profile = prof
		copts.nb_profile = C.int32_t(n)
	}
	if len(o.TimingCache) > 0 {
		copts.timing_cache = cbytes(o.TimingCache)
		copts.timing_cache_len = C.size_t(len(o.TimingCache))
	}
	progress := C.int(0)
	if o.Progress != nil {
		h := cgo.NewHandle(o.Progress)
		defer h.Delete()
		copts.progress_user = C.uintptr_t(h)
		progress = 1
	}
	var cdir *C.char
	if modelDir != "" {
		cdir = C.CString(modelDir)
		free = append(free, unsafe.Pointer(cdir))
	}
	src := cbytes(onnx)
	var cplan, ctc C.trtshim_blob
	var e C.trtshim_err
	if err := check("build", C.trtgo_build(l.api, src, C.size_t(len(onnx)), cdir, copts, progress, &cplan, &ctc, &e), &e); err != nil {
		return nil, nil, err
	}
	// Copied out of C memory with unsafe.Slice: C.GoBytes stops at 2 GiB,
	// and large models' plans can pass it.
	plan = append([]byte(nil), unsafe.Slice((*byte)(cplan.data), int(cplan.len))...)
	C.trtgo_blob_free(l.api, &cplan)
	if ctc.data != nil {
		timingCache = append([]byte(nil), unsafe.Slice((*byte)(ctc.data), int(ctc.len))...)
		C.trtgo_blob_free(l.api, &ctc)
	}
	return plan, timingCache, nil
}

//export trtgoProgress
func trtgoProgress(user C.uintptr_t, event C.int32_t, phase, parent *C.char, n C.int32_t) C.int32_t {
	p, ok := cgo.Handle(user).Value().(Progress)
	if !ok {
		return 0
	}
	ph := C.GoString(phase)
	switch event {
	case C.TRTSHIM_PROGRESS_START:
		par := ""
		if parent != nil {
			par = C.GoString(parent)
		}
		p.Start(ph, par, int(n))
	case C.TRTSHIM_PROGRESS_STEP:
		if !p.Step(ph, int(n)) {
			return 1
		}
	case C.TRTSHIM_PROGRESS_FINISH:
		p.Finish(ph)
	}
	return 0
}
