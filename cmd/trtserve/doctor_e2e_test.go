package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildBinary builds the real binary into a temporary folder, with the
// CUDA mock compiled in (build tag cudamock) for TRTSERVE_CUDA_MOCK=1.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trtserve")
	if out, err := exec.Command("go", "build", "-tags", "cudamock", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs it to completion with extra environment and returns its
// exit code and output.
func runBinary(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// The doctor on a host without a usable GPU (no libcudart at the path it
// is given, or none of any kind: the same path): it says so, lists what it
// looked for and exits 0, writing the same to --out.
func TestDoctorWithoutGPU(t *testing.T) {
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runBinary(t, bin, []string{"TRTSERVE_CUDA_MOCK=", "TRTSERVE_CUDART_LIB=/nonexistent/libcudart.so.13"}, "doctor", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, s := range []string{"no GPU: nothing checked", "/nonexistent/libcudart.so.13", "libcudart", "NVML", "TensorRT shim", "simulated kernel"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "doctor.md"))
	if err != nil || !strings.Contains(string(md), "no GPU: nothing checked") {
		t.Fatalf("doctor.md: %v\n%s", err, md)
	}
	for _, f := range []string{"components.csv", "bandwidth.csv", "overlap.csv", "alloc.csv", "nvml.csv"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// On the CUDA mock every check runs through the real binary, labelled MOCK.
func TestDoctorOnMock(t *testing.T) {
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runBinary(t, bin, []string{"TRTSERVE_CUDA_MOCK=1"}, "doctor", "--quick", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, s := range []string{"Mock GPU", "[MOCK: no GPU used]", "H2D (MOCK)", "overlap (MOCK)", "no growth"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "bandwidth.csv"))
	if err != nil || strings.Count(string(data), "\nMOCK,") != 14 {
		t.Fatalf("bandwidth.csv: %v\n%s", err, data)
	}
}

func TestDoctorBadArguments(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{{"doctor", "--gpu", "-1"}, {"doctor", "extra"}, {"doctor", "--gpu", "x"}} {
		code, _, stderr := runBinary(t, bin, nil, args...)
		if code == 0 || !strings.Contains(stderr, "doctor") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// The simulated-GPU backend serves on the CUDA mock in both pipelines:
// every answer is labelled simulated-gpu, carries predictions, and the
// same image always gets the same answer; its pinned pool is in /metrics.
func TestSimulatedGPUBackendOnMock(t *testing.T) {
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	repo := simRepo(t, "sim", "max_batch_size: 4\nsimulated: {base_us: 500, per_item_us: 100}\n")
	body := odJSON("sim/1", b64file(t, "../../testdata/images/bus.jpg"))
	other := odJSON("sim/1", b64file(t, "../../testdata/images/zidane.jpg"))
	for _, mode := range []string{"parallel", "serial"} {
		t.Run(mode, func(t *testing.T) {
			url := startServer(t, "--model-repository", repo, "--load-models", "sim/1", "--backend", "simulated-gpu", "--pipeline", mode)
			answers := make([]string, 32)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := body
					if i%2 == 1 {
						b = other
					}
					resp, err := http.Post(url+"/infer/object_detection", "application/json", strings.NewReader(b))
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					data, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != 200 || resp.Header.Get("Trtserve-Backend") != "simulated-gpu" {
						t.Errorf("status %d, backend header %q: %s", resp.StatusCode, resp.Header.Get("Trtserve-Backend"), data)
						return
					}
					var out struct {
						Predictions []map[string]any `json:"predictions"`
					}
					if err := json.Unmarshal(data, &out); err != nil || len(out.Predictions) == 0 {
						t.Errorf("no predictions (%v): %s", err, data)
						return
					}
					for _, p := range out.Predictions {
						delete(p, "detection_id") // a fresh UUID each time
					}
					p, _ := json.Marshal(out.Predictions)
					answers[i] = string(p)
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			for i := 2; i < len(answers); i++ {
				if answers[i] != answers[i%2] {
					t.Fatalf("answer %d differs from answer %d for the same image", i, i%2)
				}
			}
			if answers[0] == answers[1] {
				t.Error("bus.jpg and zidane.jpg got the same synthetic answer")
			}
			if v := metric(t, url, "nv_pinned_memory_pool_used_bytes"); v <= 0 {
				t.Errorf("pinned pool in use: %v bytes, want the model's batch buffers", v)
			}
		})
	}
}

// Without a GPU (and outside the mock) serve --backend simulated-gpu
// refuses to start and says why.
func TestSimulatedGPUBackendRefusedWithoutGPU(t *testing.T) {
	bin := buildBinary(t)
	code, _, stderr := runBinary(t, bin, []string{"TRTSERVE_CUDA_MOCK=", "TRTSERVE_CUDART_LIB=/nonexistent/libcudart.so"},
		"serve", "--port", "0", "--backend", "simulated-gpu", "--model-repository", "../../testdata/models", "--load-models", "none")
	if code != 1 || !strings.Contains(stderr, "simulated-gpu backend unavailable") || !strings.Contains(stderr, "TRTSERVE_CUDA_MOCK") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
