package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trtserve serve with the real shim on a real TensorRT lean or dispatch
// runtime and no GPU (make shim-real-check runs it; elsewhere it skips).
// TRTSERVE_CUDA_MOCK=1 makes the server believe a GPU exists, so it really
// opens TensorRT and calls into it:
//   - the ONNX model cannot be built on a lean/dispatch runtime and serves
//     on ONNX Runtime with the shim's reason, answering a request;
//   - the engine-only folder really reaches TensorRT's deserialization,
//     whose runtime creation fails without a GPU ("CUDA initialization
//     failure", issue 15 defect 1: this used to crash the server); it has
//     nothing to fall back to and stays UNAVAILABLE with that reason.
func TestRealTensorRTRuntimeFallsBack(t *testing.T) {
	shim, lib := os.Getenv("TRTSERVE_TRT_REAL_SHIM"), os.Getenv("TRTSERVE_TRT_REAL_LIB")
	if shim == "" || lib == "" {
		t.Skip("no real TensorRT here: set TRTSERVE_TRT_REAL_SHIM and TRTSERVE_TRT_REAL_LIB (make shim-real-check does)")
	}
	kind := os.Getenv("TRTSERVE_TRT_REAL_KIND")
	if kind != "lean" && kind != "dispatch" {
		t.Skipf("TRTSERVE_TRT_REAL_KIND=%q: this test is for the lean and dispatch runtimes", kind)
	}
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	eng := filepath.Join(repo, "plan", "1")
	if err := os.MkdirAll(eng, 0o755); err != nil {
		t.Fatal(err)
	}
	// Not a real plan: TensorRT never gets as far as reading it without a GPU.
	os.WriteFile(filepath.Join(eng, "model.engine"), []byte("not a TensorRT plan"), 0o644)
	os.WriteFile(filepath.Join(repo, "plan", "config.yaml"), []byte("task: classification\ninput_width: 64\ninput_height: 64\n"), 0o644)
	t.Setenv("TRTSERVE_TRTSHIM_LIB", shim)
	t.Setenv("TRTSERVE_TENSORRT_LIB", lib)
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
	srv := startProcess(t, "--model-repository", repo)
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30e9); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
	}()
	logs := srv.logs.String()
	if !strings.Contains(logs, "backend=tensorrt") {
		t.Fatalf("the TensorRT backend did not start:\n%s", logs)
	}
	reasons := map[string]string{}
	for _, m := range repositoryIndex(t, srv.url) {
		reasons[m["name"]] = m["state"] + ": " + m["reason"]
	}
	t.Logf("repository index: %q", reasons)
	if !strings.HasPrefix(reasons["cls"], "READY: serving on onnxruntime") ||
		!strings.Contains(reasons["cls"], kind+" runtime") || !strings.Contains(reasons["cls"], "cannot build") {
		t.Fatalf("cls: %q\n%s", reasons["cls"], logs)
	}
	if !strings.HasPrefix(reasons["plan"], "UNAVAILABLE: ") || !strings.Contains(reasons["plan"], "CUDA initialization failure") {
		t.Fatalf("plan: %q\n%s", reasons["plan"], logs)
	}
	// A KServe tensor request (task-agnostic): ONNX Runtime answers it.
	out, err := inferFake(srv.url, 1, 0.5)
	if err != nil || len(out) == 0 {
		t.Fatalf("inference on the fallen-back model: %d values, %v", len(out), err)
	}
}
