package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// kserveRequest is a binary KServe request of n zero images of 3×320×320
// asking for binary outputs: its JSON header, then the body (header and
// tensor bytes).
func kserveRequest(n int) (hdr string, body []byte) {
	size := n * 3 * 320 * 320 * 4
	hdr = fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, n, size)
	return hdr, append([]byte(hdr), make([]byte, size)...)
}

// kserveZeros sends kserveRequest(n), compressed with encoding ("" for
// none).
func kserveZeros(t *testing.T, url, model string, n int, encoding string) (int, string) {
	t.Helper()
	hdr, body := kserveRequest(n)
	switch encoding {
	case "zstd":
		enc, _ := zstd.NewWriter(nil)
		body = enc.EncodeAll(body, nil)
	case "gzip":
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(body)
		w.Close()
		body = b.Bytes()
	}
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(body))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out[:min(len(out), 300)])
}

// After a known mix of requests, Triton's counters add up: requests =
// successes + failures, and inferences ≥ executions.
func TestKServeCompressionAndMetricsAddUp(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-320/1")
	const model = "yolov8n-320"
	for _, enc := range []string{"", "", "zstd", "gzip"} {
		if status, body := kserveZeros(t, url, model, 1, enc); status != 200 {
			t.Fatalf("%q: %d %s", enc, status, body)
		}
	}
	if status, body := kserveZeros(t, url, model, 3, ""); status != 200 {
		t.Fatalf("batch of 3: %d %s", status, body)
	}
	// Two images that do not decode fail inside the pipeline.
	broken := base64.StdEncoding.EncodeToString([]byte("not an image at all"))
	for range 2 {
		status, _ := post(t, url+"/infer/object_detection", "application/json",
			strings.NewReader(`{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"`+broken+`"}}`))
		if status != 422 {
			t.Fatalf("broken image: %d", status)
		}
	}
	// A gigabyte of zeros in 1 MiB gzip members: refused, and nothing else is hurt.
	var member bytes.Buffer
	w := gzip.NewWriter(&member)
	w.Write(make([]byte, 1<<20))
	w.Close()
	bomb := bytes.Repeat(member.Bytes(), 1024)
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(bomb))
	req.Header.Set("Content-Encoding", "gzip")
	status, body := jsonAnswer(t, url, mustDo(t, req))
	if status != 413 || !strings.Contains(fmt.Sprint(body["error"]), "inflates beyond") {
		t.Fatalf("gzip bomb: %d %v", status, body)
	}
	if status, body := kserveZeros(t, url, model, 1, ""); status != 200 {
		t.Fatalf("after the bomb: %d %s", status, body)
	}

	lv := `{model="yolov8n-320",version="1"}`
	success := metric(t, url, "nv_inference_request_success"+lv)
	var failures float64
	for _, reason := range []string{"BACKEND", "CANCELED", "OTHER", "REJECTED"} {
		failures += metric(t, url, `nv_inference_request_failure{model="yolov8n-320",reason="`+reason+`",version="1"}`)
	}
	count := metric(t, url, "nv_inference_count"+lv)
	execs := metric(t, url, "nv_inference_exec_count"+lv)
	if success != 6 || failures != 2 {
		t.Errorf("successes %v, failures %v: want 6 and 2 (8 requests reached the model)", success, failures)
	}
	if count != 8 || execs < 1 || execs > count {
		t.Errorf("inference count %v, executions %v: want 8 inferences in 1..8 executions", count, execs)
	}
	if n := metric(t, url, "trtserve_batch_size_count"+lv); n != execs {
		t.Errorf("batch size histogram has %v executions, exec count %v", n, execs)
	}
}

func mustDo(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// SIGTERM stops accepting, lets the request in flight finish, exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	root := simRepo(t, "slow", "backend: simulated\nsimulated:\n  base_us: 1500000\n  per_item_us: 0\n")
	srv := startProcess(t, "--model-repository", root)
	done := make(chan string, 1)
	go func() {
		status, body := kserveZeros(t, srv.url, "slow", 1, "")
		done <- fmt.Sprint(status, " ", body)
	}()
	time.Sleep(300 * time.Millisecond) // the request is in the engine now
	srv.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if resp, err := http.Get(srv.url + "/v2/health/live"); err == nil {
		resp.Body.Close()
		t.Errorf("a new connection was accepted while draining: %d", resp.StatusCode)
	}
	if got := <-done; !strings.HasPrefix(got, "200 ") {
		t.Errorf("in-flight request: %s", got)
	}
	if err := srv.wait(20 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, srv.logs.String())
	}
}

// Poll mode loads what appears in the repository and unloads what goes.
func TestPollModeFollowsTheRepository(t *testing.T) {
	root := simRepo(t, "a", "backend: simulated\n")
	url := startServer(t, "--model-repository", root, "--model-control-mode", "poll", "--repository-poll-interval", "100ms")
	ready := func(model string) int {
		resp, err := http.Get(url + "/v2/models/" + model + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(model string, status int) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ready(model) != status; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s ready: %d, want %d", model, ready(model), status)
			}
		}
	}
	waitFor("a", 200)
	src, _ := filepath.Abs("../../testdata/models/yolov8n-320/1/model.onnx")
	os.MkdirAll(filepath.Join(root, "b", "1"), 0o755)
	os.WriteFile(filepath.Join(root, "b", "config.yaml"), []byte("backend: simulated\n"), 0o644)
	os.Symlink(src, filepath.Join(root, "b", "1", "model.onnx"))
	waitFor("b", 200)
	os.RemoveAll(filepath.Join(root, "a"))
	waitFor("a", 404)
	status, body := post(t, url+"/v2/repository/models/b/unload", "application/json", nil)
	if status != 400 || !strings.Contains(fmt.Sprint(body["error"]), "poll") {
		t.Fatalf("API unload in poll mode: %d %v", status, body)
	}
	// Traffic to b continues while the poller works.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, body := kserveZeros(t, url, "b", 1, ""); status != 200 {
				t.Errorf("b: %d %s", status, body)
			}
		}()
	}
	wg.Wait()
}

// Reloading a model through the repository API under traffic drops no
// request: each is answered by the old version or the new one.
func TestReloadUnderTrafficDropsNothing(t *testing.T) {
	root := simRepo(t, "r", "backend: simulated\nsimulated:\n  base_us: 20000\n")
	url := startServer(t, "--model-repository", root)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status, body := kserveZeros(t, url, "r", 1, ""); status != 200 {
					t.Errorf("during reload: %d %s", status, body)
					return
				}
				mu.Lock()
				served++
				mu.Unlock()
			}
		}()
	}
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Post(url+"/v2/repository/models/r/load", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("reload: %d %q", resp.StatusCode, body)
		}
	}
	close(stop)
	wg.Wait()
	if served == 0 {
		t.Fatal("nothing served")
	}
}
