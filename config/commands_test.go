package config

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Each subcommand reads the variables serve reads for the same things,
// then its flags, which win; positional arguments may come first.
func TestSubcommands(t *testing.T) {
	libs := map[string]string{
		"TRTSERVE_TRTSHIM_LIB": "/env/libtrtshim.so", "TRTSERVE_TENSORRT_LIB": "/env/libnvinfer.so.10",
		"TRTSERVE_CUDART_LIB": "/env/libcudart.so.13", "TRTSERVE_SIMKERNEL_LIB": "/env/libsim.so",
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		load func() (any, error)
		want any
	}{
		{"build defaults", nil, func() (any, error) { return LoadBuild([]string{"m.onnx", "-o", "m.engine"}, io.Discard, "") },
			&Build{Model: "m.onnx", Out: "m.engine", Precision: "fp32", MinBatch: 1, MaxBatch: 8, OptLevel: -1, HardwareCompat: "none", TF32: true}},
		{"build env and flags", map[string]string{"NVIDIA_TF32_OVERRIDE": "0", "TRTSERVE_TRTSHIM_LIB": "/env/libtrtshim.so", "TRTSERVE_CUDART_LIB": "/env/libcudart.so.13"},
			func() (any, error) {
				return LoadBuild([]string{"-o", "m.engine", "--profile", "a:1:2:3", "--profile", "b:1:2:3", "--tf32=false", "--gpu", "1",
					"--cudart-lib", "/flag/libcudart.so", "--quiet", "m.onnx"}, io.Discard, "")
			},
			&Build{Model: "m.onnx", Out: "m.engine", Precision: "fp32", MinBatch: 1, MaxBatch: 8, OptLevel: -1, HardwareCompat: "none",
				Profiles: []string{"a:1:2:3", "b:1:2:3"}, TRTShimLib: "/env/libtrtshim.so", CUDALib: "/flag/libcudart.so", GPU: 1, Quiet: true, TF32Override: "0"}},
		{"inspect", libs, func() (any, error) { return LoadInspect([]string{"m.engine", "--json", "--gpu", "2"}, io.Discard, "") },
			&Inspect{File: "m.engine", JSON: true, TRTShimLib: "/env/libtrtshim.so", TensorRTLib: "/env/libnvinfer.so.10", CUDALib: "/env/libcudart.so.13", GPU: 2}},
		{"doctor", map[string]string{"TRTSERVE_GPU": "3", "TRTSERVE_CUDA_MOCK": "1", "TRTSERVE_SIMKERNEL_LIB": "/env/libsim.so"},
			func() (any, error) {
				return LoadDoctor([]string{"--quick", "--out", "r", "--trtshim-lib", "/flag/s.so"}, io.Discard, "")
			},
			&Doctor{GPU: 3, Out: "r", TRTShimLib: "/flag/s.so", SimKernelLib: "/env/libsim.so", CUDAMock: true, Quick: true}},
		{"doctor flag wins", map[string]string{"TRTSERVE_GPU": "3"}, func() (any, error) { return LoadDoctor([]string{"--gpu", "0"}, io.Discard, "") },
			&Doctor{}},
		{"bench", nil, func() (any, error) {
			return LoadBench([]string{"--url", "a=http://x", "--compare", "http://y", "--param", "k=1", "--raw", "--batches", "1,2"}, io.Discard, "")
		}, &Bench{Targets: []string{"a=http://x", "http://y"}, Params: []string{"k=1"}, Model: "yolov5s-coco/1", Task: "object_detection",
			Images: "testdata/images", Concurrency: "1,8,64,256,1000", Warmup: 3 * time.Second, Duration: 10 * time.Second, Timeout: 120 * time.Second,
			Raw: true, ModelRepository: "./models", MaxBatchSize: 8, Batches: "1,2"}},
		{"bench default target", nil, func() (any, error) { return LoadBench(nil, io.Discard, "") },
			&Bench{Targets: []string{"http://127.0.0.1:9001"}, Model: "yolov5s-coco/1", Task: "object_detection",
				Images: "testdata/images", Concurrency: "1,8,64,256,1000", Warmup: 3 * time.Second, Duration: 10 * time.Second, Timeout: 120 * time.Second,
				ModelRepository: "./models", MaxBatchSize: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"TRTSERVE_TRTSHIM_LIB", "TRTSERVE_TENSORRT_LIB", "TRTSERVE_CUDART_LIB", "TRTSERVE_SIMKERNEL_LIB",
				"TRTSERVE_GPU", "TRTSERVE_CUDA_MOCK", "NVIDIA_TF32_OVERRIDE"} {
				t.Setenv(k, tc.env[k])
			}
			got, err := tc.load()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSubcommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		load func() error
		want string
	}{
		{"build without -o", nil, func() error { _, err := LoadBuild([]string{"m.onnx"}, io.Discard, ""); return err }, "build needs a model.onnx and -o"},
		{"build without a model", nil, func() error { _, err := LoadBuild([]string{"-o", "x"}, io.Discard, ""); return err }, "build needs a model.onnx and -o"},
		{"build extra", nil, func() error { _, err := LoadBuild([]string{"m.onnx", "-o", "x", "y"}, io.Discard, ""); return err }, "unexpected arguments: y"},
		{"inspect without a file", nil, func() error { _, err := LoadInspect([]string{"--json"}, io.Discard, ""); return err }, "inspect needs a file"},
		{"doctor extra", nil, func() error { _, err := LoadDoctor([]string{"x"}, io.Discard, ""); return err }, `doctor: unexpected argument "x"`},
		{"doctor negative gpu", nil, func() error { _, err := LoadDoctor([]string{"--gpu", "-1"}, io.Discard, ""); return err }, "doctor: --gpu -1: must be 0 or more"},
		{"doctor bad env", map[string]string{"TRTSERVE_GPU": "x"}, func() error { _, err := LoadDoctor(nil, io.Discard, ""); return err }, "doctor: environment"},
		{"bench bad param", nil, func() error { _, err := LoadBench([]string{"--param", "novalue"}, io.Discard, ""); return err }, "--param wants key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if err := tc.load(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// -h is flag.ErrHelp, after the usage: cmd/trtserve exits 0 on it.
	var out strings.Builder
	if _, err := LoadBuild([]string{"-h"}, &out, "usage: build\n"); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(out.String(), "usage: build\n") ||
		!strings.Contains(out.String(), "-tf32") {
		t.Fatalf("-h: %v\n%s", err, out.String())
	}
}
