package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A failing batch fails exactly its requests, with 500, and the next one
// succeeds; a panicking engine is recovered, logged with its stack, and
// fails only its request.
func TestEngineFaultsFailOnlyTheirBatch(t *testing.T) {
	for _, tc := range []struct {
		name, fault string
		want        []int
		log         string
	}{
		// The warm-up is run 1: requests are runs 2, 3, ...
		{"error", "fail_every: 3", []int{200, 500, 200, 200, 500, 200}, "simulated fault: run 3 failed"},
		{"panic", "panic_every: 4", []int{200, 200, 500, 200, 200, 200}, "simulated fault: run 4 panicked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := simRepo(t, "f", "backend: simulated\nsimulated:\n  base_us: 500\n  "+tc.fault+"\n")
			srv := startProcess(t, "--model-repository", root)
			defer func() {
				srv.cmd.Process.Signal(os.Interrupt)
				if err := srv.wait(20 * time.Second); err != nil {
					t.Errorf("exit: %v", err)
				}
			}()
			var got []int
			for range tc.want {
				status, body := kserveZeros(t, srv.url, "f", 1, "")
				if status == 500 && !strings.Contains(body, "engine failed") {
					t.Errorf("500 body %s", body)
				}
				got = append(got, status)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("statuses %v, want %v", got, tc.want)
			}
			failed := metric(t, srv.url, `nv_inference_request_failure{model="f",reason="BACKEND",version="1"}`)
			if failed != 2-float64(strings.Count(tc.name, "panic")) {
				t.Errorf("BACKEND failures %v", failed)
			}
			time.Sleep(100 * time.Millisecond)
			logs := srv.logs.String()
			if !strings.Contains(logs, tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs)
			}
			if tc.name == "panic" && !strings.Contains(logs, "simulated.(*Engine).Run") {
				t.Errorf("the panic was logged without its stack:\n%s", logs)
			}
		})
	}
}

// A model whose file is corrupt fails to load with its reason; the others
// serve.
func TestCorruptModelFailsAloneWithItsReason(t *testing.T) {
	root := simRepo(t, "good", "backend: simulated\n")
	os.MkdirAll(filepath.Join(root, "bad", "1"), 0o755)
	os.WriteFile(filepath.Join(root, "bad", "1", "model.onnx"), []byte("this is not protobuf \xff\xff\xff\xff\xff"), 0o644)
	url := startServer(t, "--model-repository", root)
	states := map[string]string{}
	for _, m := range repositoryIndex(t, url) {
		states[m["name"]] = m["state"] + ": " + m["reason"]
	}
	if states["good"] != "READY: " || !strings.HasPrefix(states["bad"], "UNAVAILABLE: ") || !strings.Contains(states["bad"], "bad/1") {
		t.Fatalf("index %v", states)
	}
	if status, body := kserveZeros(t, url, "good", 1, ""); status != 200 {
		t.Fatalf("good model: %d %s", status, body)
	}
	if status, body := kserveZeros(t, url, "bad", 1, ""); status != 503 || !strings.Contains(body, "UNAVAILABLE") {
		t.Fatalf("bad model: %d %s", status, body)
	}
}

// Unloading a model under traffic loses no accepted request: each is
// answered 200, or refused cleanly once the model is gone.
func TestUnloadUnderTrafficLosesNoAcceptedRequest(t *testing.T) {
	root := simRepo(t, "u", "backend: simulated\nsimulated:\n  base_us: 20000\n")
	url := startServer(t, "--model-repository", root)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(1500 * time.Millisecond)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				switch status, body := kserveZeros(t, url, "u", 1, ""); status {
				case 200:
					ok.Add(1)
				case 503, 404:
					refused.Add(1)
				default:
					t.Errorf("%d %s", status, body)
					return
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Post(url+"/v2/repository/models/u/unload", "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("unload: %v %v", resp, err)
	}
	resp.Body.Close()
	wg.Wait()
	if ok.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d served, %d refused: want both", ok.Load(), refused.Load())
	}
}

// colorJPEG is a small JPEG of one colour: eight of them hash to
// different synthetic outputs on the simulated accelerator.
func colorJPEG(t testing.TB, i int) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for p := 0; p < len(img.Pix); p += 4 {
		img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(i*31), uint8(255-i*29), uint8(i*97), 255
	}
	img.Set(i, i, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

type shot struct {
	status  int
	latency time.Duration
	retry   string
	answer  string // predictions, for 200s
	err     error
}

func detectOnce(client *http.Client, url, model, img string) shot {
	body := `{"model_id":"` + model + `","image":{"type":"base64","value":"` + img + `"},"confidence":0.05}`
	t0 := time.Now()
	resp, err := client.Post(url+"/infer/object_detection", "application/json", strings.NewReader(body))
	if err != nil {
		return shot{err: err, latency: time.Since(t0)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	s := shot{status: resp.StatusCode, latency: time.Since(t0), retry: resp.Header.Get("Retry-After"), err: err}
	if resp.StatusCode == 200 {
		// The predictions without their detection_id (a fresh UUID each).
		var ans struct{ Predictions []map[string]any }
		if err := json.Unmarshal(raw, &ans); err != nil {
			s.err = err
		}
		for _, p := range ans.Predictions {
			delete(p, "detection_id")
		}
		b, _ := json.Marshal(ans.Predictions)
		s.answer = string(b)
	}
	return s
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// scrape reads one series of /metrics without failing the test (the
// sampler below runs on its own goroutine): ok is false when the scrape
// failed or the series is absent.
func scrape(client *http.Client, url, series string) (v float64, ok bool) {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), series+" "); found {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// Offered ten times what the server can do, it answers everything: the
// requests it accepts get their own answers, the others get 429 with
// Retry-After without reaching the model, the queue never holds more than
// its bound in images, and memory stays bounded. Nothing here depends on
// the machine's speed: capacity is measured first, and latencies are only
// compared with each other (a rejection must be quicker than an accepted
// request), never with a fixed duration; absolute figures are the
// benchmarks' (docs/reliability.md).
// TRTSERVE_OVERLOAD=30s makes the long run reported in docs/reliability.md.
func TestOverloadTenTimesCapacity(t *testing.T) {
	duration := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("TRTSERVE_OVERLOAD")); err == nil {
		duration = d
	}
	const queue = 32
	root := simRepo(t, "o", fmt.Sprintf("backend: simulated\nmax_batch_size: 4\nsimulated:\n  base_us: 8000\n  per_item_us: 3000\ndynamic_batching:\n  max_queue_size: %d\n", queue))
	srv := startProcess(t, "--model-repository", root)
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 0}}
	images := make([]string, 8)
	want := make([]string, 8)
	for i := range images {
		images[i] = colorJPEG(t, i)
		s := detectOnce(client, srv.url, "o/1", images[i])
		if s.status != 200 || s.err != nil {
			t.Fatalf("image %d alone: %d %v", i, s.status, s.err)
		}
		want[i] = s.answer
	}
	// Capacity: closed loop, enough clients to keep batches full.
	var done atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Since(t0) < 2*time.Second; i++ {
				if s := detectOnce(client, srv.url, "o/1", images[i%8]); s.status == 200 {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	capacity := float64(done.Load()) / time.Since(t0).Seconds()
	offered := 10 * capacity

	// What reached the model so far: the sum of executed batch sizes counts
	// every image that ran, whatever its request's outcome.
	series := func(name string, labels ...string) string {
		return name + `{model="o",` + strings.Join(append(labels, `version="1"`), ",") + "}"
	}
	ran := series("trtserve_batch_size_sum")
	rejectedSeries := series("nv_inference_request_failure", `reason="REJECTED"`)
	counters := func() (ranImages, rejectedCount float64) {
		var ok bool
		if ranImages, ok = scrape(client, srv.url, ran); !ok {
			t.Fatalf("no %s in /metrics", ran)
		}
		rejectedCount, _ = scrape(client, srv.url, rejectedSeries) // absent until the first rejection
		return ranImages, rejectedCount
	}
	ran0, rejected0 := counters()

	// The admission queue's length, sampled throughout the overload.
	queueLen := series("trtserve_queue_length")
	var maxQueued atomic.Int64
	samplerDone, stopSampler := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(samplerDone)
		for {
			if v, ok := scrape(client, srv.url, queueLen); ok && int64(v) > maxQueued.Load() {
				maxQueued.Store(int64(v))
			}
			select {
			case <-stopSampler:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	// Open loop at ten times that.
	var mu sync.Mutex
	var accepted, rejected []time.Duration
	var wrong, other int
	interval := time.Duration(float64(time.Second) / offered)
	start := time.Now()
	n := 0
	for next := start; time.Since(start) < duration; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		i := n % 8
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := detectOnce(client, srv.url, "o/1", images[i])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case s.err != nil:
				other++
				t.Errorf("transport error: %v", s.err)
			case s.status == 200 && s.answer == want[i]:
				accepted = append(accepted, s.latency)
			case s.status == 200:
				wrong++
			case s.status == 429 && s.retry != "":
				rejected = append(rejected, s.latency)
			default:
				other++
				t.Errorf("status %d (Retry-After %q)", s.status, s.retry)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampler)
	<-samplerDone
	ran1, rejected1 := counters()
	rss := peakRSS(t, srv.cmd.Process.Pid)
	p50a, p50r := pct(accepted, 0.5), pct(rejected, 0.5)
	report := fmt.Sprintf("capacity %.0f/s; offered %.0f/s for %v (%d requests): accepted %d (p50 %v, p99 %v), rejected 429 %d (p50 %v, p99 %v), wrong %d, other %d; images run %.0f; queue at most %d of %d; peak RSS %d MiB",
		capacity, float64(n)/elapsed.Seconds(), duration, n, len(accepted), p50a.Round(time.Millisecond), pct(accepted, 0.99).Round(time.Millisecond),
		len(rejected), p50r.Round(time.Millisecond), pct(rejected, 0.99).Round(time.Millisecond), wrong, other, ran1-ran0, maxQueued.Load(), queue, rss>>20)
	t.Log(report)
	if path := os.Getenv("TRTSERVE_OVERLOAD_REPORT"); path != "" {
		os.WriteFile(path, []byte(report+"\n"), 0o644)
	}
	if wrong > 0 || other > 0 || len(accepted) == 0 || len(rejected) == 0 {
		t.Fatalf("want only correct 200s and 429s, both: %s", report)
	}
	// Rejected requests never reach the model: the images that ran are
	// exactly the accepted ones, and the server counted every 429.
	if got := int(ran1 - ran0); got != len(accepted) {
		t.Errorf("the model ran %d images for %d accepted requests: rejected requests reached it", got, len(accepted))
	}
	if got := int(rejected1 - rejected0); got != len(rejected) {
		t.Errorf("the server counted %d rejections, clients got %d 429s", got, len(rejected))
	}
	// The queue's bound is in images, whatever the load.
	if q := maxQueued.Load(); q > queue {
		t.Errorf("the admission queue held %d images, beyond its bound of %d", q, queue)
	}
	// A rejection does not wait for the model: it must be quicker than an
	// accepted request, which waits its turn in the queue.
	if p50r >= p50a {
		t.Errorf("rejections (p50 %v) are not quicker than accepted requests (p50 %v): they wait for the model", p50r, p50a)
	}
	if rss > 1<<30 {
		t.Errorf("peak RSS %d MiB", rss>>20)
	}
	if s := detectOnce(client, srv.url, "o/1", images[0]); s.status != 200 || s.answer != want[0] {
		t.Fatalf("after the overload: %d", s.status)
	}
}

// Clients that send slowly or never read cannot exhaust the server: the
// others are served meanwhile, and the slow senders are cut off after
// the read timeout. What is checked is an order of events (served while
// the slow clients still hold their connections, then the cut), not a
// duration: the timeouts only need to outlast five requests by far.
func TestSlowClientsDoNotBlockOthers(t *testing.T) {
	root := simRepo(t, "s", "backend: simulated\n")
	url := startServer(t, "--model-repository", root, "--read-timeout", "5s", "--write-timeout", "5s")
	addr := strings.TrimPrefix(url, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// 200 slow uploads: headers promise a body that never comes.
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /infer/object_detection HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model_id\":")
		conns = append(conns, c)
	}
	// 50 clients that ask for big answers and never read them.
	hdr, req := kserveRequest(1)
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 20 {
				fmt.Fprintf(c, "POST /v2/models/s/infer HTTP/1.1\r\nHost: x\r\nInference-Header-Content-Length: %d\r\nContent-Length: %d\r\n\r\n", len(hdr), len(req))
				if _, err := c.Write(req); err != nil {
					return
				}
			}
		}()
		conns = append(conns, c)
	}
	// The first slow sender's connection ends when the server cuts it off
	// (the deadline only guards against a hang).
	cut := make(chan error, 1)
	go func() {
		conns[0].SetReadDeadline(time.Now().Add(2 * time.Minute))
		_, err := io.ReadAll(conns[0])
		cut <- err
	}()
	time.Sleep(300 * time.Millisecond)
	for range 5 {
		if status, body := kserveZeros(t, url, "s", 1, ""); status != 200 {
			t.Fatalf("a normal client beside slow ones: %d %s", status, body)
		}
	}
	select {
	case err := <-cut:
		t.Fatalf("the normal requests were answered only after the slow senders were cut off (%v): the slow clients blocked them", err)
	default:
	}
	// The slow senders are cut off after the read timeout.
	if err := <-cut; err != nil {
		t.Fatalf("slow sender still connected after the read timeout: %v", err)
	}
}

// repositoryIndex is POST /v2/repository/index: a row per model version
// with its name, version, state and reason.
func repositoryIndex(t *testing.T, url string) []map[string]string {
	t.Helper()
	resp, err := http.Post(url+"/v2/repository/index", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var index []map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatalf("repository index: %v", err)
	}
	return index
}

// vmRSS is the process's resident set now (VmRSS), in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// rssSlack is how much a refused request may move the server's RSS: the
// Go heap's ordinary churn, far below what any load would allocate.
const rssSlack = 24 << 20

// repositoryLoad posts a KServe repository load with config (JSON text,
// "" for none) and returns the status and the error text.
func repositoryLoad(t *testing.T, url, model, config string, headers ...string) (int, string) {
	t.Helper()
	body := "{}"
	if config != "" {
		b, _ := json.Marshal(map[string]any{"parameters": map[string]string{"config": config}})
		body = string(b)
	}
	req, _ := http.NewRequest("POST", url+"/v2/repository/models/"+model+"/load", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out struct {
		Error string `json:"error"`
	}
	json.Unmarshal(data, &out)
	return resp.StatusCode, out.Error
}

// onnxRepo links testdata models into a fresh repository: name → the
// testdata folder, with config.yaml text when not "".
func onnxRepo(t *testing.T, models map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for name, m := range models {
		dir := filepath.Join(root, name, "1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		src, err := filepath.Abs("../../testdata/models/" + m[0] + "/1/model.onnx")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, filepath.Join(dir, "model.onnx")); err != nil {
			t.Fatal(err)
		}
		if m[1] != "" {
			if err := os.WriteFile(filepath.Join(root, name, "config.yaml"), []byte(m[1]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// Issue 20's config bomb, on a server started with no options: the load
// answers 400 naming the field and its bound, the server's RSS stays where
// it was (bytes, not time), and the loaded model keeps serving. A
// config.yaml out of bounds is refused the same way through Roboflow's
// /model/add.
func TestConfigBombIsRefusedWith400AndRSSStays(t *testing.T) {
	root := onnxRepo(t, map[string][2]string{"yolov8n": {"yolov8n-320", ""}, "big": {"yolov8n-320", "max_batch_size: 5000\n"}})
	srv := startProcess(t, "--model-repository", root)
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(20 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	const bomb = `{"max_batch_size": 1000000000, "instance_count": 100000}`
	// Once first, so the route's own first-use allocations are in the
	// baseline.
	if status, msg := repositoryLoad(t, srv.url, "yolov8n", `{"max_batch_size": 2000}`); status != 400 || !strings.Contains(msg, "max_batch_size 2000 is above the limit 1024") {
		t.Fatalf("warm-up load: %d %q", status, msg)
	}
	before := vmRSS(t, srv.cmd.Process.Pid)
	for range 5 {
		status, msg := repositoryLoad(t, srv.url, "yolov8n", bomb)
		if status != 400 || !strings.Contains(msg, "max_batch_size 1000000000 is above the limit 1024") {
			t.Fatalf("config bomb: %d %q, want 400 naming max_batch_size and its limit", status, msg)
		}
	}
	if status, msg := repositoryLoad(t, srv.url, "yolov8n", `{"instance_count": 100000}`); status != 400 || !strings.Contains(msg, "instance_count 100000 is above the limit 64") {
		t.Fatalf("instance bomb: %d %q", status, msg)
	}
	if status, msg := repositoryLoad(t, srv.url, "yolov8n", `{"dynamic_batching": {"max_queue_size": 1000000000}}`); status != 400 || !strings.Contains(msg, "dynamic_batching.max_queue_size 1000000000 is above the limit 65536") {
		t.Fatalf("queue bomb: %d %q", status, msg)
	}
	after := vmRSS(t, srv.cmd.Process.Pid)
	if after > before+rssSlack {
		t.Errorf("RSS grew from %d to %d bytes over refused loads (slack %d)", before, after, rssSlack)
	}
	t.Logf("RSS before %d, after %d bytes", before, after)
	if s := status(t, srv.url+"/v2/models/yolov8n/ready"); s != 200 {
		t.Errorf("the loaded model answers ready %d after the refused reloads", s)
	}
	code, body := post(t, srv.url+"/model/add", "application/json", strings.NewReader(`{"model_id": "big/1"}`))
	if msg, _ := body["message"].(string); code != 400 || body["error_type"] != "InvalidModelConfig" || !strings.Contains(msg, "max_batch_size 5000 is above the limit 1024") {
		t.Errorf("/model/add of a model whose config.yaml is out of bounds: %d %v", code, body)
	}
}

// A load whose memory estimate exceeds --max-model-memory is refused
// before anything is allocated, on ONNX Runtime: 400 on KServe's load (as
// Triton refuses a load), 507 through Roboflow's /model/add, the RSS where
// it was, and the version already loaded keeps serving.
func TestLoadThatWouldNotFitIsRefusedOnONNXRuntime(t *testing.T) {
	root := onnxRepo(t, map[string][2]string{"yolov8n": {"yolov8n-320", ""}, "wide": {"yolov8n-320", "instance_count: 16\n"}})
	srv := startProcess(t, "--model-repository", root, "--max-model-memory", strconv.Itoa(512<<20))
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(20 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	if s := status(t, srv.url+"/v2/models/yolov8n/ready"); s != 200 {
		t.Fatalf("the default configuration does not fit 512 MiB: ready %d\n%s", s, srv.logs.String())
	}
	repositoryLoad(t, srv.url, "yolov8n", `{"instance_count": 16}`) // first use of the route
	before := vmRSS(t, srv.cmd.Process.Pid)
	for range 3 {
		status, msg := repositoryLoad(t, srv.url, "yolov8n", `{"instance_count": 16}`)
		if status != 400 || !strings.Contains(msg, "not enough memory") || !strings.Contains(msg, "--max-model-memory (512.0 MiB)") {
			t.Fatalf("load of 16 instances: %d %q", status, msg)
		}
	}
	if after := vmRSS(t, srv.cmd.Process.Pid); after > before+rssSlack {
		t.Errorf("RSS grew from %d to %d bytes over refused loads (slack %d)", before, after, rssSlack)
	}
	if s := status(t, srv.url+"/v2/models/yolov8n/ready"); s != 200 {
		t.Errorf("the loaded version answers ready %d after the refused reload", s)
	}
	code, body := post(t, srv.url+"/model/add", "application/json", strings.NewReader(`{"model_id": "wide/1"}`))
	if msg, _ := body["message"].(string); code != 507 || body["error_type"] != "InsufficientMemory" || !strings.Contains(msg, "--max-model-memory") {
		t.Errorf("/model/add of a model that does not fit: %d %v", code, body)
	}
	// What fits still loads.
	if status, msg := repositoryLoad(t, srv.url, "yolov8n", `{"instance_count": 2}`); status != 200 {
		t.Errorf("load of 2 instances: %d %q", status, msg)
	}
}

// On the GPU path (TensorRT over the fake shim, the CUDA mock): a reload
// whose pinned batch buffers would not fit what the pinned pool's budget
// has left is refused before a single pinned byte is allocated (the pool's
// gauges unchanged) and before any engine is built; the loaded version
// keeps serving.
func TestLoadThatWouldNotFitIsRefusedOnTheGPUMock(t *testing.T) {
	srv := gpuServer(t, nil, "--pinned-memory-pool-bytes", strconv.Itoa(64<<20))
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	if s := status(t, srv.url+"/v2/models/cls/ready"); s != 200 {
		t.Fatalf("cls not ready: %d\n%s", s, srv.logs.String())
	}
	total := metric(t, srv.url, "nv_pinned_memory_pool_total_bytes")
	used := metric(t, srv.url, "nv_pinned_memory_pool_used_bytes")
	builds := strings.Count(srv.logs.String(), "engine built")
	code, msg := repositoryLoad(t, srv.url, "cls", `{"max_batch_size": 16}`)
	if code != 400 || !strings.Contains(msg, "not enough memory") || !strings.Contains(msg, "pinned memory pool") {
		t.Fatalf("reload at batch 16: %d %q", code, msg)
	}
	if t2, u2 := metric(t, srv.url, "nv_pinned_memory_pool_total_bytes"), metric(t, srv.url, "nv_pinned_memory_pool_used_bytes"); t2 != total || u2 != used {
		t.Errorf("pinned pool total %v→%v, used %v→%v: the refused load allocated", total, t2, used, u2)
	}
	if n := strings.Count(srv.logs.String(), "engine built"); n != builds {
		t.Errorf("the refused load built an engine (%d builds, %d before)", n, builds)
	}
	if s := status(t, srv.url+"/v2/models/cls/ready"); s != 200 {
		t.Errorf("cls answers ready %d after the refused reload", s)
	}
}

// The admin key end to end: model control needs it, the inference key is
// refused there (403) but still adds a repository model on Roboflow's
// /model/add (inference-sdk's way) and infers.
func TestAdminKeyGuardsModelControl(t *testing.T) {
	root := onnxRepo(t, map[string][2]string{"yolov8n": {"yolov8n-320", ""}})
	t.Setenv("TRTSERVE_API_KEY", "infer-key")
	t.Setenv("TRTSERVE_ADMIN_API_KEY", "admin-key")
	srv := startProcess(t, "--model-repository", root, "--load-models", "none")
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(20 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}()
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	if s, msg := repositoryLoad(t, srv.url, "yolov8n", "", bearer("infer-key")...); s != 403 || !strings.Contains(msg, "admin key") {
		t.Errorf("load with the inference key: %d %q", s, msg)
	}
	if s, _ := repositoryLoad(t, srv.url, "yolov8n", ""); s != 401 {
		t.Errorf("load without a key: %d", s)
	}
	code, body := post(t, srv.url+"/model/add?api_key=infer-key", "application/json", strings.NewReader(`{"model_id": "yolov8n/1"}`))
	if code != 200 {
		t.Fatalf("/model/add with the inference key: %d %v", code, body)
	}
	code, body = post(t, srv.url+"/infer/object_detection?api_key=infer-key", "application/json", odBody("yolov8n/1", b64file(t, "../../testdata/images/bus.jpg")))
	if code != 200 {
		t.Errorf("inference with the inference key: %d %v", code, body)
	}
	code, _ = post(t, srv.url+"/model/clear?api_key=infer-key", "application/json", nil)
	if code != 403 {
		t.Errorf("/model/clear with the inference key: %d", code)
	}
	if s, msg := repositoryLoad(t, srv.url, "yolov8n", `{"max_batch_size": 2}`, bearer("admin-key")...); s != 200 {
		t.Errorf("load with the admin key: %d %q", s, msg)
	}
	code, _ = post(t, srv.url+"/model/clear?api_key=admin-key", "application/json", nil)
	if code != 200 {
		t.Errorf("/model/clear with the admin key: %d", code)
	}
}
