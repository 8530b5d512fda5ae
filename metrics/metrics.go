package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trtserve/trtserve/pipeline"
)

// Models lists the loaded models (pipeline.Manager does).
type Models interface {
	Loaded() []*pipeline.Model
}

// Registry is the server's metrics registry.
type Registry struct {
	reg *prometheus.Registry
}

// New registers the model collector and the Go and process collectors.
func New(models Models) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newModelCollector(models),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Registry{reg: reg}
}

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer exposes the registry (tests read it with testutil).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

var labels = []string{"model", "version"}

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), extra...), nil)
}

// modelCollector turns pipeline.Stats into Triton's per-model metrics.
type modelCollector struct {
	models                                         Models
	success, failure, count, execCount, pending    *prometheus.Desc
	requestUs, queueUs, inputUs, inferUs, outputUs *prometheus.Desc
	batchSize, queueLen, latency                   *prometheus.Desc
}

func newModelCollector(models Models) *modelCollector {
	return &modelCollector{
		models:    models,
		success:   desc("nv_inference_request_success", "Number of successful inference requests, all batch sizes"),
		failure:   desc("nv_inference_request_failure", "Number of failed inference requests, all batch sizes", "reason"),
		count:     desc("nv_inference_count", "Number of inferences performed (an image is one inference)"),
		execCount: desc("nv_inference_exec_count", "Number of model executions performed (a batch is one execution)"),
		pending:   desc("nv_inference_pending_request_count", "Instantaneous number of images admitted and not finished"),
		requestUs: desc("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds"),
		queueUs:   desc("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds"),
		inputUs:   desc("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (decode and preprocess)"),
		inferUs:   desc("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds"),
		outputUs:  desc("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (postprocess and response encoding)"),
		batchSize: desc("trtserve_batch_size", "Batch size of model executions"),
		queueLen:  desc("trtserve_queue_length", "Images waiting in the model's admission queue"),
		latency:   desc("trtserve_request_duration_seconds", "Latency of successful inference requests in the server, from admission to the last image's answer"),
	}
}

func (c *modelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.success, c.failure, c.count, c.execCount, c.pending, c.requestUs, c.queueUs, c.inputUs, c.inferUs, c.outputUs, c.batchSize, c.queueLen, c.latency} {
		ch <- d
	}
}

func us(ns uint64) float64 { return float64(ns) / float64(time.Microsecond) }

func (c *modelCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.models.Loaded() {
		s, lv := m.Stats, []string{m.Spec.Name, m.Spec.Version}
		counter := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(lv, extra...)...)
		}
		counter(c.success, float64(s.RequestSuccess.Load()))
		for reason, n := range s.Failures() {
			counter(c.failure, float64(n), reason)
		}
		counter(c.count, float64(s.InferenceCount.Load()))
		counter(c.execCount, float64(s.ExecutionCount.Load()))
		counter(c.requestUs, us(s.RequestNs.Load()))
		counter(c.queueUs, us(s.QueueNs.Load()))
		counter(c.inputUs, us(s.ComputeInputNs.Load()))
		counter(c.inferUs, us(s.ComputeInferNs.Load()))
		counter(c.outputUs, us(s.ComputeOutputNs.Load()))
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending.Load()), lv...)
		ch <- prometheus.MustNewConstMetric(c.queueLen, prometheus.GaugeValue, float64(m.QueueLen()), lv...)
		buckets := map[float64]uint64{}
		var total, sum uint64
		for b := 1; b < len(s.Batches); b++ {
			n := s.Batches[b].Load()
			total += n
			sum += n * uint64(b)
			buckets[float64(b)] = total
		}
		ch <- prometheus.MustNewConstHistogram(c.batchSize, total, float64(sum), buckets, lv...)
		lat := map[float64]uint64{}
		var seen uint64
		for i, le := range pipeline.LatencyBuckets {
			seen += s.Latency[i].Load()
			lat[le.Seconds()] = seen
		}
		seen += s.Latency[len(pipeline.LatencyBuckets)].Load()
		// The sum is RequestNs, read apart from the buckets: a scrape during
		// a request may see one without the other, as Prometheus allows.
		ch <- prometheus.MustNewConstHistogram(c.latency, seen, float64(s.RequestNs.Load())/1e9, lat, lv...)
	}
}
