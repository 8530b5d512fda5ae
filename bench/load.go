package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/valyala/fasthttp"
)

// Target is a server under test.
type Target struct {
	Name, URL string
}

// Load describes one benchmark: what to send and at what levels.
type Load struct {
	Targets []Target
	Model   string // model_id, e.g. "yolov5s-coco/1"
	Task    string // Roboflow route: object_detection, ...
	APIKey  string
	// Params are extra request fields, e.g. mask_decode_mode.
	Params map[string]any
	Images [][]byte // encoded images, sent round-robin
	// Concurrency levels (closed loop), or Rates in requests/second (open
	// loop) when set.
	Concurrency []int
	Rates       []float64
	Warmup      time.Duration
	Duration    time.Duration
	Timeout     time.Duration
	Progress    io.Writer // nil: no progress bar
	// TLS is the client's configuration for https targets (trusted CAs,
	// a client certificate under mutual TLS); nil: Go's defaults.
	TLS *tls.Config

	metrics *fasthttp.Client // reads the targets' /metrics
}

// Level is the outcome of one load level on one target.
type Level struct {
	Target                  string
	Concurrency             int     // closed loop
	Rate                    float64 // open loop, requests/second offered
	Images                  int     // answered 200 within the window
	FPS                     float64
	P50, P90, P95, P99, Avg time.Duration
	Errors                  map[string]int // by status ("429", "500", "timeout", ...)
	Backend                 string         // Trtserve-Backend header: "simulated" when set
	// Server-side means per request from /metrics deltas (0 when the target
	// does not export Triton's counters).
	ServerQueue, ServerInput, ServerInfer, ServerOutput time.Duration
	MaxRSS                                              float64 // bytes, sampled from /metrics
	// ServerCPU is the server process's user+system CPU time over the
	// window (process_cpu_seconds_total on its /metrics, which Prometheus'
	// process collector reads from /proc/<pid>/stat); CPUPerImage is that
	// ÷ Images. Unlike fps it does not depend on who else uses the cores,
	// so it compares two servers measured on a shared machine. 0 when the
	// target does not export it.
	ServerCPU   time.Duration
	CPUPerImage time.Duration
}

// ReadImages loads every .jpg/.jpeg/.png in dir, sorted by name.
func ReadImages(dir string) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			out = append(out, data)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no .jpg or .png images in %s", dir)
	}
	return out, nil
}

// bodies pre-encodes one request per image so the client spends its CPU
// on sending, not on base64.
func (l *Load) bodies() [][]byte {
	out := make([][]byte, len(l.Images))
	for i, img := range l.Images {
		req := map[string]any{"model_id": l.Model, "image": map[string]any{"type": "base64", "value": base64.StdEncoding.EncodeToString(img)}}
		if l.APIKey != "" {
			req["api_key"] = l.APIKey
		}
		for k, v := range l.Params {
			req[k] = v
		}
		out[i], _ = json.Marshal(req)
	}
	return out
}

// Run measures every level on every target, target after target within a
// level so their figures are side by side in time.
func (l *Load) Run(ctx context.Context) ([]Level, error) {
	if len(l.Targets) == 0 || len(l.Images) == 0 {
		return nil, fmt.Errorf("bench needs a target and images")
	}
	bodies := l.bodies()
	l.metrics = &fasthttp.Client{TLSConfig: l.TLS, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, NoDefaultUserAgentHeader: true}
	defer l.metrics.CloseIdleConnections()
	var out []Level
	levels := len(l.Concurrency)
	if len(l.Rates) > 0 {
		levels = len(l.Rates)
	}
	for i := range levels {
		for _, t := range l.Targets {
			lv := Level{Target: t.Name}
			if len(l.Rates) > 0 {
				lv.Rate = l.Rates[i]
			} else {
				lv.Concurrency = l.Concurrency[i]
			}
			if err := l.level(ctx, t, bodies, &lv); err != nil {
				return out, err
			}
			out = append(out, lv)
		}
	}
	return out, nil
}

type sample struct {
	at      time.Time // completion
	latency time.Duration
	status  string
}

func (l *Load) level(ctx context.Context, t Target, bodies [][]byte, lv *Level) error {
	conns := lv.Concurrency
	if conns == 0 {
		conns = int(math.Ceil(lv.Rate)) * 4 // outstanding requests an open loop may need
	}
	client := &fasthttp.Client{
		MaxConnsPerHost: conns + 16, ReadTimeout: l.Timeout, WriteTimeout: l.Timeout,
		MaxResponseBodySize: 64 << 20, NoDefaultUserAgentHeader: true, TLSConfig: l.TLS,
	}
	defer client.CloseIdleConnections()
	uri := strings.TrimRight(t.URL, "/") + "/infer/" + l.Task

	before := l.scrape(t.URL)
	stopRSS := make(chan struct{})
	rssDone := make(chan float64, 1)
	go func() { rssDone <- l.sampleRSS(t.URL, stopRSS) }()

	// The window opens after the warm-up and, in a closed loop, once every
	// client has had an answer: before that, latencies are those of a
	// queue still filling (1000 clients on a 17 fps server need a minute).
	// The server's CPU time is read when the window opens and when it
	// closes, so it covers the same span as the images counted.
	var measureFrom, end atomic.Int64
	end.Store(math.MaxInt64)
	var completed atomic.Int64
	cpuDone := make(chan [2]float64, 1)
	go func() {
		deadline := time.Now().Add(l.Warmup + l.Timeout)
		time.Sleep(l.Warmup)
		for lv.Concurrency > 0 && completed.Load() < int64(lv.Concurrency) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cpu0 := l.processCPU(t.URL)
		now := time.Now()
		measureFrom.Store(now.UnixNano())
		end.Store(now.Add(l.Duration).UnixNano())
		select {
		case <-time.After(l.Duration):
		case <-ctx.Done():
		}
		cpuDone <- [2]float64{cpu0, l.processCPU(t.URL)}
	}()
	running := func() bool { return time.Now().UnixNano() < end.Load() && ctx.Err() == nil }
	var mu sync.Mutex // guards samples and backend
	var samples []sample
	var backend string
	var next atomic.Uint64
	send := func() {
		i := next.Add(1) - 1
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(uri)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(bodies[i%uint64(len(bodies))])
		t0 := time.Now()
		err := client.DoTimeout(req, resp, l.Timeout)
		s := sample{at: time.Now(), latency: time.Since(t0)}
		completed.Add(1)
		switch {
		case err == fasthttp.ErrTimeout:
			s.status = "timeout"
		case err != nil:
			s.status = "conn-error"
		default:
			s.status = strconv.Itoa(resp.StatusCode())
		}
		mu.Lock()
		samples = append(samples, s)
		if backend == "" {
			backend = string(resp.Header.Peek("Trtserve-Backend"))
		}
		mu.Unlock()
	}

	var bar *progressbar.ProgressBar
	if l.Progress != nil {
		desc := fmt.Sprintf("%-10s c=%-5d", t.Name, lv.Concurrency)
		if lv.Rate > 0 {
			desc = fmt.Sprintf("%-10s r=%-7.1f", t.Name, lv.Rate)
		}
		bar = progressbar.NewOptions64(int64((l.Warmup+l.Duration)/time.Second), progressbar.OptionSetWriter(l.Progress),
			progressbar.OptionSetDescription(desc), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
		go func() {
			for running() {
				time.Sleep(time.Second)
				bar.Add(1)
			}
		}()
	}

	var wg sync.WaitGroup
	if lv.Concurrency > 0 {
		for range lv.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for running() {
					send()
				}
			}()
		}
	} else {
		interval := time.Duration(float64(time.Second) / lv.Rate)
		tick := time.NewTicker(interval)
		for ; running(); <-tick.C {
			wg.Add(1)
			go func() { defer wg.Done(); send() }()
		}
		tick.Stop()
	}
	wg.Wait()
	if bar != nil {
		bar.Finish()
	}
	close(stopRSS)
	lv.MaxRSS = <-rssDone
	after := l.scrape(t.URL)

	var lat []time.Duration
	lv.Errors = map[string]int{}
	from, until := time.Unix(0, measureFrom.Load()), time.Unix(0, end.Load())
	for _, s := range samples {
		if s.at.Before(from) || s.at.After(until) {
			continue
		}
		if s.status != "200" {
			lv.Errors[s.status]++
			continue
		}
		lat = append(lat, s.latency)
	}
	lv.Backend = backend
	lv.Images = len(lat)
	if cpu := <-cpuDone; cpu[0] >= 0 && cpu[1] >= cpu[0] {
		lv.ServerCPU = time.Duration((cpu[1] - cpu[0]) * float64(time.Second))
		if lv.Images > 0 {
			lv.CPUPerImage = lv.ServerCPU / time.Duration(lv.Images)
		}
	}
	lv.FPS = float64(len(lat)) / l.Duration.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
		lv.P50, lv.P90, lv.P95, lv.P99 = pct(0.50), pct(0.90), pct(0.95), pct(0.99)
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		lv.Avg = sum / time.Duration(len(lat))
	}
	if n := after["nv_inference_request_success"] - before["nv_inference_request_success"]; n > 0 {
		per := func(name string) time.Duration {
			return time.Duration((after[name] - before[name]) / n * float64(time.Microsecond))
		}
		lv.ServerQueue, lv.ServerInput = per("nv_inference_queue_duration_us"), per("nv_inference_compute_input_duration_us")
		lv.ServerInfer, lv.ServerOutput = per("nv_inference_compute_infer_duration_us"), per("nv_inference_compute_output_duration_us")
	}
	return ctx.Err()
}

// scrape sums each metric family over its series (all models) from the
// target's /metrics, with the API key a keyed server wants there too; a
// target without it gives an empty map.
func (l *Load) scrape(url string) map[string]float64 {
	out := map[string]float64{}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(strings.TrimRight(url, "/") + "/metrics")
	if l.APIKey != "" {
		req.Header.Set("X-API-Key", l.APIKey)
	}
	if err := l.metrics.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
		return out
	}
	sc := bufio.NewScanner(bytes.NewReader(resp.Body()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			out[name] += v
		}
	}
	return out
}

// processCPU is the target's process_cpu_seconds_total (user+system CPU
// of the server process, in seconds), or -1 when it does not export it.
func (l *Load) processCPU(url string) float64 {
	if v, ok := l.scrape(url)["process_cpu_seconds_total"]; ok {
		return v
	}
	return -1
}

// sampleRSS polls the target's process_resident_memory_bytes until stop
// and returns the largest value seen.
func (l *Load) sampleRSS(url string, stop <-chan struct{}) float64 {
	var peak float64
	for {
		peak = max(peak, l.scrape(url)["process_resident_memory_bytes"])
		select {
		case <-stop:
			return peak
		case <-time.After(500 * time.Millisecond):
		}
	}
}
