package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trtserve/trtserve/trt/trttest"
)

// gpuServer starts the binary on the TensorRT backend over the fake shim
// and the CUDA mock (with env's extra variables), serving the
// classification export as "cls".
func gpuServer(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
	return startProcess(t, append([]string{"--model-repository", repo, "--max-batch-size", "4"}, args...)...)
}

// injectFault makes the server's CUDA mock lose its device with code: the
// file appears whole (a rename), never half written.
func injectFault(t *testing.T, file, code string) {
	t.Helper()
	if err := os.WriteFile(file+".tmp", []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// --gpu 1 on a two-GPU machine: start-up, the pinned pool, the engine
// build and load, inference at every batch size, unload and shutdown must
// create no context on GPU 0 (a busy or exclusive GPU 0 would otherwise
// break the server, and every context costs hundreds of MB there).
func TestGPUNTouchesNoOtherGPU(t *testing.T) {
	srv := gpuServer(t, map[string]string{"TRTSERVE_CUDA_MOCK_DEVICES": "2"}, "--gpu", "1")
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := inferFake(srv.url, 1+c%4, float32(c)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	resp, err := http.Post(srv.url+"/v2/repository/models/cls/unload", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unload: %d", resp.StatusCode)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.wait(30 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.logs.String())
	}
	logs := srv.logs.String()
	const want = `msg="CUDA MOCK: devices that got a context" devices=1` + "\n"
	if !strings.Contains(logs, want) {
		t.Fatalf("want only device 1 to get a context (%q):\n%s", want, logs)
	}
}

// After a sticky CUDA error the server turns not ready, takes the model out
// of service with the reason, logs CRITICAL once and keeps answering.
func TestGPUFaultTurnsNotReady(t *testing.T) {
	faultFile := filepath.Join(t.TempDir(), "fault")
	srv := gpuServer(t, map[string]string{"TRTSERVE_CUDA_MOCK_FAULT_FILE": faultFile})
	defer func() {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		if err := srv.wait(30 * time.Second); err != nil {
			t.Errorf("without --exit-on-gpu-fault a SIGTERM still exits cleanly: %v\n%s", err, srv.logs.String())
		}
	}()
	if _, err := inferFake(srv.url, 2, 1); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, srv.url, "trtserve_gpu_fault"); v != 0 {
		t.Fatalf("trtserve_gpu_fault %v before the fault", v)
	}
	injectFault(t, faultFile, "700\n")
	// Requests notice the lost device (the mock fails every call from now
	// on, as CUDA does): each is answered 503, never a 500.
	deadline := time.Now().Add(10 * time.Second)
	for status(t, srv.url+"/readiness") != 503 {
		if time.Now().After(deadline) {
			t.Fatalf("still ready after the fault:\n%s", srv.logs.String())
		}
		_, err := inferFake(srv.url, 1, 0)
		if err != nil && !strings.Contains(err.Error(), ": 503 ") {
			t.Fatalf("a request on the lost GPU: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := status(t, srv.url+"/v2/health/ready"); code != 503 {
		t.Fatalf("/v2/health/ready %d after the fault", code)
	}
	if v := metric(t, srv.url, "trtserve_gpu_fault"); v != 1 {
		t.Fatalf("trtserve_gpu_fault %v after the fault", v)
	}
	if code := status(t, srv.url+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d: the process itself is alive", code)
	}
	if code := status(t, srv.url+"/v2/models/cls/ready"); code != 503 {
		t.Fatalf("model ready %d after the fault", code)
	}
	var index []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	resp, err := http.Post(srv.url+"/v2/repository/index", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	if len(index) != 1 || index[0].State != "UNAVAILABLE" || !strings.Contains(index[0].Reason, "cudaErrorIllegalAddress") {
		t.Fatalf("repository index after the fault: %+v", index)
	}
	for range 3 {
		_, err := inferFake(srv.url, 1, 0)
		if err == nil || !strings.Contains(err.Error(), ": 503 ") || !strings.Contains(err.Error(), "GPU") {
			t.Fatalf("inference after the fault: %v", err)
		}
	}
	// A reload is refused too: the device is gone for this process.
	if resp, err := http.Post(srv.url+"/v2/repository/models/cls/load", "application/json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode == 200 {
		t.Fatal("the model reloaded on a lost GPU")
	}
	if n := strings.Count(srv.logs.String(), "level=CRITICAL"); n != 1 {
		t.Fatalf("%d CRITICAL lines, want one:\n%s", n, srv.logs.String())
	}
}

// With --exit-on-gpu-fault the server answers the requests it admitted,
// then exits non-zero so an orchestrator restarts it.
func TestGPUFaultExits(t *testing.T) {
	faultFile := filepath.Join(t.TempDir(), "fault")
	srv := gpuServer(t, map[string]string{"TRTSERVE_CUDA_MOCK_FAULT_FILE": faultFile}, "--exit-on-gpu-fault")
	var (
		wg           sync.WaitGroup
		ok, answered atomic.Int64
		bad          atomic.Pointer[error]
	)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := inferFake(srv.url, 1+c%4, float32(c))
				switch {
				case err == nil:
					ok.Add(1)
				case strings.Contains(err.Error(), ": 503 "):
					answered.Add(1)
				case strings.HasPrefix(err.Error(), "infer "):
					// An HTTP answer other than 200 or 503 (a 500 would
					// say the fault was not recognised).
					bad.CompareAndSwap(nil, &err)
					return
				default:
					// No HTTP answer: the server has gone (refused, or
					// reset while the listener closed): stop.
					return
				}
			}
		}()
	}
	for ok.Load() < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	injectFault(t, faultFile, "719")
	err := srv.wait(30 * time.Second)
	wg.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1\n%s", err, srv.logs.String())
	}
	if e := bad.Load(); e != nil {
		t.Errorf("a request got a wrong answer: %v", *e)
	}
	// The request whose batch met the fault was in flight when the server
	// learnt of it, and the drain waits for it: it gets its 503.
	if answered.Load() == 0 {
		t.Error("no request was answered 503 after the fault")
	}
	logs := srv.logs.String()
	for _, want := range []string{"level=CRITICAL", "cudaErrorLaunchFailure", "exiting after in-flight requests finish", "trtserve: exiting after a GPU fault"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	t.Logf("%d requests served before the fault, %d answered 503 after it", ok.Load(), answered.Load())
}
