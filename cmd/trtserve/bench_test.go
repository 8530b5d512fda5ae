package main

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkServerLatency: one client, one request at a time, bus.jpg
// (810x1080 JPEG) through the real binary over loopback HTTP to the 640
// demo model. Compare its p50 with BenchmarkInfer640 (engines/onnxruntime)
// from the same run:
//
//	go test -run '^$' -bench 'ServerLatency|Infer640' ./cmd/trtserve/ ./engines/onnxruntime/
func BenchmarkServerLatency(b *testing.B) {
	url := startServer(b, "--model-repository", "../../models", "--load-models", "yolov8n/1")
	body := odBody("yolov8n/1", b64file(b, "../../testdata/images/bus.jpg"))
	payload, _ := io.ReadAll(body)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		resp, err := http.Post(url+"/infer/object_detection", "application/json", strings.NewReader(string(payload)))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
