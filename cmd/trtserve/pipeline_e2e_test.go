package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// simRepo makes a repository holding the 320 px detector under name with
// the given config.yaml.
func simRepo(t *testing.T, name, config string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, name, "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs("../../testdata/models/yolov8n-320/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name, "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// metric reads one sample of /metrics by its full name and labels.
func metric(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

func TestConcurrentClientsAreBatched(t *testing.T) {
	repo := simRepo(t, "sim", "backend: simulated\nmax_batch_size: 8\n")
	url := startServer(t, "--model-repository", repo, "--load-models", "sim/1")
	body := odJSON("sim/1", b64file(t, "../../testdata/images/bus.jpg"))
	const clients = 1000
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(url+"/infer/object_detection", "application/json", strings.NewReader(body))
			if err != nil {
				failed.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Trtserve-Backend") != "simulated" {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d concurrent clients failed", n, clients)
	}
	labels := `{model="sim",version="1"}`
	count, execs := metric(t, url, "nv_inference_count"+labels), metric(t, url, "nv_inference_exec_count"+labels)
	if count != clients || execs >= clients {
		t.Fatalf("%v inferences in %v executions: want %d in fewer", count, execs, clients)
	}
	t.Logf("%d concurrent clients: %v executions", clients, execs)
}

func TestFullQueueAnswers429WithRetryAfter(t *testing.T) {
	repo := simRepo(t, "slow", `backend: simulated
max_batch_size: 1
simulated: {base_us: 300000, per_item_us: 0}
dynamic_batching: {max_queue_size: 1}
`)
	url := startServer(t, "--model-repository", repo, "--load-models", "slow/1")
	body := odJSON("slow/1", b64file(t, "../../testdata/images/bus.jpg"))
	var wg sync.WaitGroup
	var ok, busy atomic.Int32
	for range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, out := post(t, url+"/infer/object_detection", "application/json", strings.NewReader(body))
			switch {
			case status == 200 && out["predictions"] != nil:
				ok.Add(1)
			case status == 429 && out["error_type"] == "TooManyRequests":
				busy.Add(1)
			default:
				t.Errorf("status %d %v", status, out)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 || busy.Load() == 0 {
		t.Fatalf("ok %d busy %d: want both", ok.Load(), busy.Load())
	}
	resp, err := http.Post(url+"/infer/object_detection", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the burst: %d", resp.StatusCode)
	}
	if got := metric(t, url, `nv_inference_request_failure{model="slow",reason="REJECTED",version="1"}`); got != float64(busy.Load()) {
		t.Fatalf("REJECTED counter %v, 429s %d", got, busy.Load())
	}
}

func TestRetryAfterHeader(t *testing.T) {
	repo := simRepo(t, "slow", "backend: simulated\nmax_batch_size: 1\nsimulated: {base_us: 500000}\ndynamic_batching: {max_queue_size: 1}\n")
	url := startServer(t, "--model-repository", repo, "--load-models", "slow/1", "--pipeline", "serial")
	body := odJSON("slow/1", b64file(t, "../../testdata/images/bus.jpg"))
	headers := make(chan http.Header, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(url+"/infer/object_detection", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 429 {
				headers <- resp.Header
			}
		}()
	}
	wg.Wait()
	close(headers)
	n := 0
	for h := range headers {
		n++
		if h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Fatalf("429 without Retry-After or JSON: %v", h)
		}
	}
	if n == 0 {
		t.Fatal("serial mode with a queue of 1 admitted 8 concurrent clients")
	}
}

func TestClientThatHangsUpIsDropped(t *testing.T) {
	// 3 s a batch: the first request runs while the watcher (every 200 ms)
	// notices the others' hang-ups, with room for a busy machine; "at most
	// 3 executions" does not depend on its speed.
	repo := simRepo(t, "slow", "backend: simulated\nmax_batch_size: 1\nsimulated: {base_us: 3000000}\n")
	url := startServer(t, "--model-repository", repo, "--load-models", "slow/1")
	body := odJSON("slow/1", b64file(t, "../../testdata/images/bus.jpg"))
	host := strings.TrimPrefix(url, "http://")
	const n = 8
	for range n {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /infer/object_detection HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", host, len(body), body)
		time.AfterFunc(100*time.Millisecond, func() { conn.Close() })
	}
	labels := `{model="slow",reason="CANCELED",version="1"}`
	for deadline := time.Now().Add(time.Minute); metric(t, url, "nv_inference_request_failure"+labels) < n; time.Sleep(50 * time.Millisecond) { // bounds a failure only
		if time.Now().After(deadline) {
			t.Fatalf("only %v of %d abandoned requests were cancelled", metric(t, url, "nv_inference_request_failure"+labels), n)
		}
	}
	if execs := metric(t, url, `nv_inference_exec_count{model="slow",version="1"}`); execs > 3 {
		t.Fatalf("%v executions for %d requests whose clients left: abandoned work ran", execs, n)
	}
	status, out := post(t, url+"/infer/object_detection", "application/json", strings.NewReader(body))
	if status != 200 {
		t.Fatalf("after the hang-ups: %d %v", status, out)
	}
}
