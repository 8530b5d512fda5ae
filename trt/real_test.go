package trt_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/trt"
)

// The real shim against a real TensorRT library: run by
// scripts/shim-real-check.sh (make shim-real-check) with
//
//	TRTSERVE_TRT_REAL_SHIM  the libtrtshim.so to test
//	TRTSERVE_TRT_REAL_LIB   the TensorRT library it opens (--tensorrt-lib)
//	TRTSERVE_TRT_REAL_KIND  full, lean or dispatch: what the library is
//	TRTSERVE_TRT_REAL_VERSION  its version as getInferLibVersion() says, e.g. 101600
//
// Each run opens one library (TensorRT state is process-wide), so the
// script runs this test once per runtime.
func realShim(t *testing.T) *trt.Library {
	t.Helper()
	shim, lib := os.Getenv("TRTSERVE_TRT_REAL_SHIM"), os.Getenv("TRTSERVE_TRT_REAL_LIB")
	if shim == "" || lib == "" {
		t.Skip("no real TensorRT here: set TRTSERVE_TRT_REAL_SHIM and TRTSERVE_TRT_REAL_LIB (make shim-real-check does)")
	}
	l, err := trt.OpenWith(shim, trt.OpenOptions{TensorRTLib: lib, AllowEngineHostCode: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRealInfo(t *testing.T) {
	lib := realShim(t)
	info := lib.Info()
	t.Logf("%+v", info)
	if !info.NeedsDevice || info.Notice != "" || info.Runtime != os.Getenv("TRTSERVE_TRT_REAL_KIND") || info.TensorRTPath == "" {
		t.Fatalf("info %+v, want runtime %q", info, os.Getenv("TRTSERVE_TRT_REAL_KIND"))
	}
	if want := os.Getenv("TRTSERVE_TRT_REAL_VERSION"); want != "" && want != itoa(info.RuntimeVersion) {
		t.Fatalf("runtime version %d, want %s", info.RuntimeVersion, want)
	}
	if info.Runtime != trt.RuntimeFull && (info.CanBuild || info.ONNXParser != 0 || info.Plugins) {
		t.Fatalf("a %s runtime claims to build / parse / have plugins: %+v", info.Runtime, info)
	}
	if info.Runtime != trt.RuntimeFull {
		_, _, err := lib.Build([]byte("not onnx"), "", trt.BuildOptions{OptimizationLevel: -1})
		if !errors.Is(err, trt.ErrUnsupported) || !strings.Contains(err.Error(), "cannot build engines") {
			t.Fatalf("build on %s: %v", info.Runtime, err)
		}
	}
}

// Issue 15, defect 1: on a machine without a GPU, TensorRT logs "CUDA
// initialization failure" and returns a bogus runtime pointer; the shim used
// the pointer and crashed the process. Now: ErrCUDAInit with TensorRT's
// words, or, where a GPU exists, TensorRT's own deserialize error.
func TestRealLoadCorruptPlan(t *testing.T) {
	lib := realShim(t)
	for _, tc := range []struct{ name, plan string }{
		{"junk", "\x00\x01 not a plan at all"},
		{"fake plan", plan},
		{"truncated header", "ftrt\x00\x00\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lib.Load([]byte(tc.plan))
			t.Logf("%v", err)
			switch {
			case errors.Is(err, trt.ErrCUDAInit):
				if !strings.Contains(err.Error(), "CUDA") {
					t.Fatalf("CUDA failure without TensorRT's message: %v", err)
				}
				if os.Getenv("TRTSERVE_TRT_REAL_GPU") == "1" {
					t.Fatalf("a GPU is present but: %v", err)
				}
			case errors.Is(err, trt.ErrDeserialize):
				if strings.Contains(err.Error(), "see the log") {
					t.Fatalf("no TensorRT message: %v", err)
				}
			default:
				t.Fatalf("err = %v, want ErrCUDAInit (no GPU) or ErrDeserialize", err)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
