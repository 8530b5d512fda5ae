package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
)

type nop struct{ fail bool }

func (n nop) Preprocess([][]float32) error {
	if n.fail {
		return context.Canceled
	}
	return nil
}
func (nop) Postprocess([][]float32) error { return nil }

func TestTritonNamesAndCounts(t *testing.T) {
	backends := engines.NewBackendSet()
	backends.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{MaxBatchSize: 4, InstanceCount: 1, ForceBackend: simulated.Name}}
	mg := pipeline.NewManager(repo, backends, nil, pipeline.ManagerOptions{})
	defer mg.Close()
	m, err := mg.Load(context.Background(), "yolov8n-320/1")
	if err != nil {
		t.Fatal(err)
	}
	if errs := m.Do(context.Background(), []pipeline.Work{nop{}, nop{}, nop{}}); errs[0] != nil {
		t.Fatal(errs)
	}
	m.Do(context.Background(), []pipeline.Work{nop{fail: true}})
	reg := New(mg)
	want := `
# HELP nv_inference_count Number of inferences performed (an image is one inference)
# TYPE nv_inference_count counter
nv_inference_count{model="yolov8n-320",version="1"} 3
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="yolov8n-320",version="1"} 1
`
	if err := testutil.GatherAndCompare(reg.Gatherer(), strings.NewReader(want), "nv_inference_count", "nv_inference_request_success"); err != nil {
		t.Fatal(err)
	}
	fails, err := testutil.GatherAndCount(reg.Gatherer(), "nv_inference_request_failure")
	if err != nil || fails != 4 {
		t.Fatalf("failure series %d (%v), want one per reason", fails, err)
	}
	got := value(t, reg, "nv_inference_exec_count")
	if got < 1 || got > 3 {
		t.Fatalf("exec count %v for 3 images at max batch 4", got)
	}
	fams, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "trtserve_request_duration_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		last := h.GetBucket()[len(h.GetBucket())-1]
		if h.GetSampleCount() != 1 || last.GetCumulativeCount() != 1 || last.GetUpperBound() != 10 || h.GetSampleSum() <= 0 {
			t.Errorf("latency histogram %v: want the one successful request", h)
		}
	}
	for _, name := range []string{"trtserve_batch_size", "trtserve_request_duration_seconds", "nv_inference_queue_duration_us", "go_goroutines", "process_resident_memory_bytes"} {
		if n, err := testutil.GatherAndCount(reg.Gatherer(), name); err != nil || n == 0 {
			t.Errorf("%s missing (%v)", name, err)
		}
	}
}

func value(t *testing.T, reg *Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}
