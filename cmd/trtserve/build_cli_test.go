package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/trt"
	"github.com/trtserve/trtserve/trt/trttest"
)

const clsONNX = "../../testdata/models/yolov8n-cls-320/1/model.onnx"

// trtserve build and inspect through the fake shim: the CLI's flags,
// profile derivation, timing cache, summary and engine read-back are real;
// the engine is the fake's.
func TestBuildAndInspectCLI(t *testing.T) {
	fake := trttest.FakeLib(t)
	dir := t.TempDir()
	engine, cache := filepath.Join(dir, "cls.engine"), filepath.Join(dir, "timing.cache")
	var out, errs bytes.Buffer
	err := runBuild([]string{clsONNX, "-o", engine, "--precision", "fp16", "--max-batch", "4", "--opt-batch", "2",
		"--timing-cache", cache, "--workspace", "1GiB", "--trtshim-lib", fake, "--quiet"}, &out, &errs)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	for _, want := range []string{"built " + engine, "precision fp16", "input  images", "profile min [1 3 320 320] opt [2 3 320 320] max [4 3 320 320]", "output output0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errs.String(), "TensorRT fake") {
		t.Errorf("build does not say which TensorRT: %s", errs.String())
	}
	if st, err := os.Stat(cache); err != nil || st.Size() == 0 {
		t.Fatalf("timing cache not written: %v", err)
	}
	plan, _ := os.ReadFile(engine)
	if !strings.Contains(string(plan), "precision fp16") {
		t.Fatalf("plan: %s", plan)
	}

	out.Reset()
	if err := runInspect([]string{"--json", "--trtshim-lib", fake, engine}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	var r inspectReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != "tensorrt engine" || len(r.Inputs) != 1 || r.Inputs[0].Max[0] != 4 || len(r.Outputs) != 1 {
		t.Fatalf("engine report %+v", r)
	}
	out.Reset()
	if err := runInspect([]string{clsONNX}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"onnx", "opsets ai.onnx", "input  images", "metadata task: classify"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("onnx report lacks %q:\n%s", want, out.String())
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{clsONNX, "--trtshim-lib", fake}, "needs a model.onnx and -o"},
		{"bad precision", []string{clsONNX, "-o", engine, "--precision", "fp64", "--trtshim-lib", fake}, "precision"},
		{"bad batch range", []string{clsONNX, "-o", engine, "--min-batch", "4", "--max-batch", "2", "--trtshim-lib", fake}, "batch range"},
		{"bad profile", []string{clsONNX, "-o", engine, "--profile", "images:1x3", "--trtshim-lib", fake}, "name:MIN:OPT:MAX"},
		{"profile out of order", []string{clsONNX, "-o", engine, "--profile", "images:8x3x320x320:1x3x320x320:8x3x320x320", "--trtshim-lib", fake}, "invalid argument"},
		{"bad workspace", []string{clsONNX, "-o", engine, "--workspace", "lots", "--trtshim-lib", fake}, "size"},
		{"bad hardware compat", []string{clsONNX, "-o", engine, "--hardware-compat", "all", "--trtshim-lib", fake}, "hardware-compat"},
		{"not onnx", []string{engine, "-o", engine + "2", "--trtshim-lib", fake}, "onnx"},
		{"no shim", []string{clsONNX, "-o", engine, "--trtshim-lib", "/nonexistent.so"}, "build needs TensorRT"},
		{"int8 on the fake", []string{clsONNX, "-o", engine, "--precision", "int8", "--trtshim-lib", fake}, "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			err := runBuild(tc.args, &o, &e)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if err := runInspect([]string{"--trtshim-lib", "/nonexistent.so", engine}, &out, &errs); err == nil || !strings.Contains(err.Error(), "not an ONNX model") {
		t.Fatalf("engine without a shim: %v", err)
	}
}

// The build summary says that fp32 may run as TF32 and how to turn it
// off (--tf32=false, the env var as the alternative), says which is in
// force, and --tf32=false reaches the shim: the fake writes "no_tf32" into
// the plan exactly when trtshim_build_options.disable_tf32 is 1.
func TestBuildSummaryTF32(t *testing.T) {
	fake := trttest.FakeLib(t)
	for _, tc := range []struct {
		precision, flag, override, want, not, header string
		noTF32                                       bool
	}{
		{"fp32", "", "", "fp32 layers may run as TF32 (TensorRT's default); for strict fp32 rebuild with --tf32=false (NVIDIA_TF32_OVERRIDE=0 in the environment also works)", "TF32 off", "tf32 allowed", false},
		{"strongly-typed", "", "", "may run as TF32", "TF32 off", "tf32 allowed", false},
		{"fp32", "--tf32=true", "", "may run as TF32", "TF32 off", "tf32 allowed", false},
		{"fp32", "--tf32=false", "", "TF32 off (--tf32=false): layers that run in fp32 use strict fp32", "may run as TF32", "tf32 off", true},
		{"fp16", "--tf32=false", "", "TF32 off (--tf32=false)", "may run as TF32", "tf32 off", true},
		{"fp32", "", "0", "TF32 off (NVIDIA_TF32_OVERRIDE=0): layers that run in fp32 use strict fp32", "may run as TF32", "tf32 allowed", false},
		{"fp16", "", "", "", "NVIDIA_TF32_OVERRIDE", "tf32 allowed", false},
	} {
		t.Run(tc.precision+"/"+tc.flag+"/"+tc.override, func(t *testing.T) {
			t.Setenv("NVIDIA_TF32_OVERRIDE", tc.override)
			var out, errs bytes.Buffer
			engine := filepath.Join(t.TempDir(), "cls.engine")
			args := []string{clsONNX, "-o", engine, "--precision", tc.precision, "--max-batch", "2", "--trtshim-lib", fake, "--quiet"}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			if err := runBuild(args, &out, &errs); err != nil {
				t.Fatalf("%v\n%s", err, errs.String())
			}
			if !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), tc.not) {
				t.Fatalf("summary (want %q, not %q):\n%s", tc.want, tc.not, out.String())
			}
			if !strings.Contains(errs.String(), "precision "+tc.precision+", "+tc.header) {
				t.Fatalf("build header lacks %q:\n%s", tc.header, errs.String())
			}
			plan, err := os.ReadFile(engine)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(plan), "\nno_tf32\n"); got != tc.noTF32 {
				t.Fatalf("plan has no_tf32 = %v, want %v:\n%s", got, tc.noTF32, plan)
			}
		})
	}
}

// On a lean or dispatch TensorRT runtime build is refused before any work,
// saying what it needs; inspect still reads an engine file there.
func TestBuildRefusedOnLeanRuntime(t *testing.T) {
	for _, name := range []string{"libnvinfer_lean.so.10", "libnvinfer_dispatch.so.11"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			lib := filepath.Join(dir, name)
			os.WriteFile(lib, nil, 0o644) // the fake only looks at the name
			engine := filepath.Join(dir, "cls.engine")
			var out, errs bytes.Buffer
			// A copy of the fake: its TensorRT choice is per loaded library.
			shim := trttest.FakeLibCopy(t)
			err := runBuild([]string{clsONNX, "-o", engine, "--trtshim-lib", shim, "--tensorrt-lib", lib, "--quiet"}, &out, &errs)
			if !errors.Is(err, trt.ErrUnsupported) || !strings.Contains(err.Error(), "runs engines but cannot build them") ||
				!strings.Contains(err.Error(), "full TensorRT") {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(engine); !os.IsNotExist(err) {
				t.Fatalf("an engine was written: %v", err)
			}
			os.WriteFile(engine, []byte("trtshim-fake-plan 1\ninput images FLOAT 1x3x64x64\noutput out FLOAT 1x10\n"), 0o644)
			if err := runInspect([]string{"--trtshim-lib", shim, "--tensorrt-lib", lib, engine}, &out, &errs); err != nil || !strings.Contains(out.String(), "input  images") {
				t.Fatalf("inspect on the lean runtime: %v\n%s", err, out.String())
			}
		})
	}
}
