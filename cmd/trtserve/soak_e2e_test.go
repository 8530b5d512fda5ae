package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// soakCase is one kind of request in the soak's mix and the status it
// must get.
type soakCase struct {
	name, path, ctype, encoding string
	headers                     map[string]string
	body                        []byte
	want                        int
}

func soakCases(t *testing.T) []soakCase {
	img := b64file(t, "../../testdata/images/zidane.jpg")
	rf := func(model string) []byte { return []byte(odJSON(model, img)) }
	hdr, tensor := kserveRequest(1)
	gz := func(data []byte, copies int) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		return bytes.Repeat(b.Bytes(), copies)
	}
	kserve := map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(hdr))}
	json := "application/json"
	return []soakCase{
		{name: "detect", path: "/infer/object_detection", ctype: json, body: rf("yolov8n-320/1"), want: 200},
		{name: "classify", path: "/infer/classification", ctype: json, body: rf("yolov8n-cls-320/1"), want: 200},
		{name: "segment", path: "/infer/instance_segmentation", ctype: json, body: rf("yolov8n-seg-320/1"), want: 200},
		{name: "keypoints", path: "/infer/keypoints_detection", ctype: json, body: rf("yolov8n-pose-320/1"), want: 200},
		{name: "legacy", path: "/yolov8n-320/1?confidence=50", ctype: "application/x-www-form-urlencoded", body: []byte(img), want: 200},
		{name: "kserve-binary", path: "/v2/models/yolov8n-320/infer", headers: kserve, body: tensor, want: 200},
		{name: "kserve-gzip", path: "/v2/models/yolov8n-320/infer", headers: kserve, encoding: "gzip", body: gz(tensor, 1), want: 200},
		{name: "bad-json", path: "/infer/object_detection", ctype: json, body: []byte(`{"model_id": "yolov8n-320/1", "image": `), want: 400},
		{name: "bad-image", path: "/infer/object_detection", ctype: json,
			body: []byte(`{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"` + base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff garbage")) + `"}}`), want: 422},
		{name: "unknown-model", path: "/infer/object_detection", ctype: json, body: rf("no-such/1"), want: 404},
		{name: "bad-shape", path: "/v2/models/yolov8n-320/infer", ctype: json,
			body: []byte(`{"inputs":[{"name":"images","shape":[1,3,10,10],"datatype":"FP32","data":[1]}]}`), want: 400},
		{name: "bomb", path: "/v2/models/yolov8n-320/infer", encoding: "gzip", body: gz(make([]byte, 1<<20), 100), want: 413},
		{name: "brotli", path: "/v2/models/yolov8n-320/infer", encoding: "br", body: tensor[:100], want: 415},
	}
}

func (c soakCase) send(client *http.Client, url string) (int, error) {
	req, err := http.NewRequest("POST", url+c.path, bytes.NewReader(c.body))
	if err != nil {
		return 0, err
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.encoding != "" {
		req.Header.Set("Content-Encoding", c.encoding)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// Mixed traffic (every model, every route, bad inputs among good ones)
// for TRTSERVE_SOAK (default 10 s; `make soak` runs longer): every answer
// has its expected status, and goroutines and memory do not grow. Under
// -race the server is built with -race too.
func TestSoak(t *testing.T) {
	duration := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("TRTSERVE_SOAK")); err == nil {
		duration = d
	}
	var flags []string
	if raceBuild {
		flags = []string{"-race"}
	}
	srv := startBuilt(t, flags, "--load-models", "all", "--model-control-mode", "none", "--max-body-bytes", "16777216")
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(60 * time.Second); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
		if strings.Contains(srv.logs.String(), "DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", srv.logs.String())
		}
	}()
	cases := soakCases(t)
	client := &http.Client{Timeout: 60 * time.Second}
	var mu sync.Mutex
	counts := map[string]int{}
	var failures []string
	run := func(until time.Time, worker int) {
		for i := worker; time.Now().Before(until); i++ {
			c := cases[i%len(cases)]
			status, err := c.send(client, srv.url)
			mu.Lock()
			switch {
			case err != nil:
				failures = append(failures, c.name+": "+err.Error())
			case status != c.want:
				failures = append(failures, fmt.Sprintf("%s: %d, want %d", c.name, status, c.want))
			}
			counts[fmt.Sprint(status)]++
			mu.Unlock()
		}
	}
	traffic := func(d time.Duration) {
		var wg sync.WaitGroup
		until := time.Now().Add(d)
		for w := range 6 {
			wg.Add(1)
			go func() { defer wg.Done(); run(until, w*5) }()
		}
		wg.Wait()
	}
	sample := func() (goroutines, rss float64) {
		time.Sleep(time.Second) // idle connections and workers settle
		return metric(t, srv.url, "go_goroutines"), metric(t, srv.url, "process_resident_memory_bytes")
	}
	// Warm-up as long as the measured run (at most 10 s), so the baseline is
	// taken at the steady size of the pools, arenas and heap: with the tiny
	// test models a 2.5 s warm-up left it low (a CI run on 2 shared cores:
	// 639 MiB, then 1294 MiB after the run; with this warm-up 885 → 891 and
	// 934 → 1331 under the same load, the old models' runs 845 → 1072).
	traffic(min(duration, 10*time.Second))
	g0, rss0 := sample()
	clear(counts)
	start := time.Now()
	traffic(duration)
	elapsed := time.Since(start)
	g1, rss1 := sample()

	statuses := make([]string, 0, len(counts))
	total := 0
	for s, n := range counts {
		statuses = append(statuses, fmt.Sprintf("%s×%d", s, n))
		total += n
	}
	sort.Strings(statuses)
	report := fmt.Sprintf("soak %v: %d requests (%.0f/s), statuses %s, unexpected %d; goroutines %v → %v; RSS %d → %d MiB",
		duration, total, float64(total)/elapsed.Seconds(), strings.Join(statuses, " "), len(failures), g0, g1, int64(rss0)>>20, int64(rss1)>>20)
	t.Log(report)
	if path := os.Getenv("TRTSERVE_SOAK_REPORT"); path != "" {
		os.WriteFile(path, []byte(report+"\n"), 0o644)
	}
	if len(failures) > 0 {
		t.Errorf("%d unexpected answers, first: %s", len(failures), failures[:min(5, len(failures))])
	}
	if g1 > g0+30 {
		t.Errorf("goroutines grew from %v to %v", g0, g1)
	}
	if rss1 > rss0*1.5+200<<20 {
		t.Errorf("RSS grew from %d to %d MiB", int64(rss0)>>20, int64(rss1)>>20)
	}
}
