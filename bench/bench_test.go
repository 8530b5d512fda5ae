package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A server that refuses every third request with 429 and takes 2 ms.
func fakeServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(fakeHandler(""))
	t.Cleanup(srv.Close)
	return srv
}

// fakeHandler is fakeServer's; with a key, /metrics wants it in X-API-Key,
// as trtserve's does when TRTSERVE_API_KEY is set.
func fakeHandler(key string) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			if key != "" && r.Header.Get("X-API-Key") != key {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			// 1 ms of "server CPU" per request, as the process collector
			// would report it.
			fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", float64(n.Load())*0.001)
			return
		}
		if r.URL.Path != "/infer/object_detection" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		time.Sleep(2 * time.Millisecond)
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Trtserve-Backend", "simulated")
		w.Write([]byte(`{"predictions":[]}`))
	})
}

// An https target with a certificate of its own CA, and /metrics behind
// an API key: the load and the server-side figures need the CA trusted
// (Load.TLS) and the key sent to /metrics as well.
func TestLoadOverTLSWithAKey(t *testing.T) {
	srv := httptest.NewTLSServer(fakeHandler("k"))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		key    string
		images bool // answered
		cpu    bool // server CPU read from /metrics
	}{
		{"CA trusted, key sent", &tls.Config{RootCAs: roots}, "k", true, true},
		{"CA trusted, no key: no server figures", &tls.Config{RootCAs: roots}, "", true, false},
		{"CA not trusted", nil, "k", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Load{
				Targets: []Target{{"a", srv.URL}}, Model: "m/1", Task: "object_detection", APIKey: tc.key, TLS: tc.tls,
				Images: [][]byte{[]byte("x")}, Concurrency: []int{2},
				Warmup: 50 * time.Millisecond, Duration: time.Second, Timeout: 5 * time.Second,
			}
			levels, err := l.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			lv := levels[0]
			if (lv.Images > 0) != tc.images || (lv.ServerCPU > 0) != tc.cpu {
				t.Fatalf("%d images answered, server CPU %v (errors %v); want answers %v, CPU read %v", lv.Images, lv.ServerCPU, lv.Errors, tc.images, tc.cpu)
			}
		})
	}
}

func TestLoadLevels(t *testing.T) {
	srv := fakeServer(t)
	l := &Load{
		Targets: []Target{{"a", srv.URL}, {"b", srv.URL}}, Model: "m/1", Task: "object_detection",
		Images: [][]byte{[]byte("not really a jpeg")}, Concurrency: []int{1, 4},
		Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond, Timeout: 5 * time.Second,
	}
	levels, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 4 || levels[0].Target != "a" || levels[1].Target != "b" || levels[2].Concurrency != 4 {
		t.Fatalf("levels out of order: %+v", levels)
	}
	for _, lv := range levels {
		if lv.Images == 0 || lv.FPS <= 0 || lv.Errors["429"] == 0 || lv.Backend != "simulated" {
			t.Fatalf("level %+v: want 200s, 429s counted apart and the backend label", lv)
		}
		if !(lv.P50 <= lv.P90 && lv.P90 <= lv.P95 && lv.P95 <= lv.P99) || lv.P50 < 2*time.Millisecond {
			t.Fatalf("percentiles %v %v %v %v", lv.P50, lv.P90, lv.P95, lv.P99)
		}
	}
	for _, lv := range levels {
		// Every request costs the fake server 1 ms of "CPU", answered or
		// refused: the CPU read over the window is the requests sent in
		// it, give or take those in flight at its two edges (at most the
		// concurrency at each), however few a slow machine manages; per
		// answered image it is that over the 200s.
		sent := lv.Images + lv.Errors["429"]
		cpu := int(lv.ServerCPU / time.Millisecond)
		if cpu < sent-2*lv.Concurrency || cpu > sent+2*lv.Concurrency {
			t.Fatalf("level %s c=%d: server CPU %v over %d requests sent, want 1 ms each (± %d at the edges)", lv.Target, lv.Concurrency, lv.ServerCPU, sent, 2*lv.Concurrency)
		}
		if lv.CPUPerImage != lv.ServerCPU/time.Duration(lv.Images) {
			t.Fatalf("level %s c=%d: CPU per image %v, want server CPU %v over %d images", lv.Target, lv.Concurrency, lv.CPUPerImage, lv.ServerCPU, lv.Images)
		}
	}
	if r := Ratios(levels); len(r) != 4 || !strings.Contains(r[2], "load 4: a / b fps") || !strings.Contains(r[3], "load 4: a / b server CPU per image") {
		t.Fatalf("ratios %v", r)
	}
	var table bytes.Buffer
	WriteTable(&table, levels)
	if !strings.Contains(table.String(), "a (simulated)") || !strings.Contains(table.String(), "429×") || !strings.Contains(table.String(), "server CPU ms/image") {
		t.Fatalf("table:\n%s", table.String())
	}
	dir := t.TempDir()
	if err := WriteCSV(filepath.Join(dir, "b.csv"), levels); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "b.csv"))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 5 || rows[0][0] != "Concurrency" || rows[0][1] != "Inferences/Second" || rows[0][12] != "p99 latency" {
		t.Fatalf("csv %v %v", rows, err)
	}
	if rows[0][18] != "Server CPU per image" || rows[1][18] == "0" {
		t.Fatalf("csv has no server CPU: %v", rows)
	}
	if err := WriteJSON(filepath.Join(dir, "b.json"), levels); err != nil {
		t.Fatal(err)
	}
	var js struct {
		Levels []struct {
			CPU float64 `json:"server_cpu_ms_per_image"`
		} `json:"levels"`
		Ratios []string `json:"ratios"`
	}
	if data, err := os.ReadFile(filepath.Join(dir, "b.json")); err != nil || json.Unmarshal(data, &js) != nil || len(js.Levels) != 4 || js.Levels[0].CPU <= 0 || len(js.Ratios) != 4 {
		t.Fatalf("json %+v %v", js, err)
	}
	if err := WritePlot(filepath.Join(dir, "b.png"), "test", levels); err != nil {
		t.Fatal(err)
	}
	pf, _ := os.Open(filepath.Join(dir, "b.png"))
	defer pf.Close()
	if img, err := png.Decode(pf); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("plot is not a PNG: %v", err)
	}
}

func TestOpenLoopOffersTheRate(t *testing.T) {
	srv := fakeServer(t)
	l := &Load{
		Targets: []Target{{"a", srv.URL}}, Model: "m/1", Task: "object_detection", Images: [][]byte{{1}},
		Rates: []float64{100}, Warmup: 100 * time.Millisecond, Duration: time.Second, Timeout: 5 * time.Second,
	}
	levels, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := levels[0].Images
	for _, n := range levels[0].Errors {
		total += n
	}
	if total < 70 || total > 130 {
		t.Fatalf("offered 100/s for 1 s, %d answered in the window", total)
	}
}

// A level repeated (--concurrency 64,64) gives its ratios once per round,
// never a target against itself.
func TestRatiosOfRepeatedLevels(t *testing.T) {
	lv := func(target string, fps float64) Level { return Level{Target: target, Concurrency: 64, FPS: fps} }
	r := Ratios([]Level{lv("a", 2), lv("b", 1), lv("a", 3), lv("b", 1)})
	if len(r) != 2 || r[0] != "load 64: a / b fps = 2.00×" || r[1] != "load 64: a / b fps = 3.00×" {
		t.Fatalf("ratios %q", r)
	}
}
