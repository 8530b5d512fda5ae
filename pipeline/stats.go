package pipeline

import (
	"sync/atomic"
	"time"
)

// Failure reasons, Triton's labels for nv_inference_request_failure.
const (
	ReasonRejected = "REJECTED" // admission queue full
	ReasonCanceled = "CANCELED" // deadline passed or client gone
	ReasonBackend  = "BACKEND"  // the engine failed
	ReasonOther    = "OTHER"    // bad image, postprocess error
)

// Stats are one model's counters, in Triton's terms: a request is one Do
// call, an inference is one image, an execution is one engine run. They
// only grow; readers take differences.
type Stats struct {
	RequestSuccess atomic.Uint64
	Rejected       atomic.Uint64
	Canceled       atomic.Uint64
	BackendFailed  atomic.Uint64
	OtherFailed    atomic.Uint64

	InferenceCount atomic.Uint64
	ExecutionCount atomic.Uint64
	Pending        atomic.Int64 // images admitted and not finished

	// Cumulative nanoseconds over successful requests, as Triton counts
	// them: each request adds its own durations, so requests batched
	// together each add the batch's compute time. A request of several
	// images adds the mean over its images.
	RequestNs, QueueNs, ComputeInputNs, ComputeInferNs, ComputeOutputNs atomic.Uint64
	// FailNs is the summed duration of failed requests.
	FailNs atomic.Uint64

	// Batches[b] counts executions at batch size b (index 0 unused);
	// BatchInferNs[b] their summed engine time, BatchInputNs[b] and
	// BatchOutputNs[b] the summed preprocess and postprocess time of their
	// images.
	Batches                                   []atomic.Uint64
	BatchInputNs, BatchInferNs, BatchOutputNs []atomic.Uint64
	LastInference                             atomic.Int64 // unix milliseconds

	// Latency[i] counts successful requests that took at most
	// LatencyBuckets[i] (the last counter: longer), for the latency
	// histogram.
	Latency [len(LatencyBuckets) + 1]atomic.Uint64
}

// LatencyBuckets are the request latency histogram's upper bounds, from a
// batch-1 GPU answer (1 ms) to a CPU batch under load (10 s).
var LatencyBuckets = [...]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

func newStats(maxBatch int) *Stats {
	n := maxBatch + 1
	return &Stats{Batches: make([]atomic.Uint64, n), BatchInputNs: make([]atomic.Uint64, n),
		BatchInferNs: make([]atomic.Uint64, n), BatchOutputNs: make([]atomic.Uint64, n)}
}

// Failures maps reason to count.
func (s *Stats) Failures() map[string]uint64 {
	return map[string]uint64{
		ReasonRejected: s.Rejected.Load(), ReasonCanceled: s.Canceled.Load(),
		ReasonBackend: s.BackendFailed.Load(), ReasonOther: s.OtherFailed.Load(),
	}
}

func (s *Stats) execution(batch int, input, infer time.Duration) {
	s.ExecutionCount.Add(1)
	if batch > 0 && batch < len(s.Batches) {
		s.Batches[batch].Add(1)
		s.BatchInputNs[batch].Add(uint64(input))
		s.BatchInferNs[batch].Add(uint64(infer))
	}
	s.LastInference.Store(time.Now().UnixMilli())
}

// batchOutput adds an execution's postprocess time once its last image is
// done.
func (s *Stats) batchOutput(batch int, d time.Duration) {
	if batch > 0 && batch < len(s.BatchOutputNs) {
		s.BatchOutputNs[batch].Add(uint64(d))
	}
}

// request records one Do call's outcome.
func (s *Stats) request(items []*item, errs []error, start time.Time) {
	var failed error
	for _, err := range errs {
		if err != nil {
			failed = err
			break
		}
	}
	if failed != nil {
		s.FailNs.Add(uint64(time.Since(start)))
		switch reason(failed) {
		case ReasonRejected:
			s.Rejected.Add(1)
		case ReasonCanceled:
			s.Canceled.Add(1)
		case ReasonBackend:
			s.BackendFailed.Add(1)
		default:
			s.OtherFailed.Add(1)
		}
		return
	}
	s.RequestSuccess.Add(1)
	s.InferenceCount.Add(uint64(len(items)))
	took := time.Since(start)
	s.RequestNs.Add(uint64(took))
	b := 0
	for b < len(LatencyBuckets) && took > LatencyBuckets[b] {
		b++
	}
	s.Latency[b].Add(1)
	var q, d, i, p time.Duration
	for _, it := range items {
		q, d, i, p = q+it.queued, d+it.decode, i+it.infer, p+it.post
	}
	n := time.Duration(max(len(items), 1))
	s.QueueNs.Add(uint64(q / n))
	s.ComputeInputNs.Add(uint64(d / n))
	s.ComputeInferNs.Add(uint64(i / n))
	s.ComputeOutputNs.Add(uint64(p / n))
}
