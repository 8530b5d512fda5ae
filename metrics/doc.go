// Package metrics owns trtserve's Prometheus registry: per-model inference
// counters under Triton's metric names and labels (so Triton dashboards
// work unchanged), a batch-size histogram, GPU metrics read through NVML
// (go-nvml, absent when NVML is), the pinned memory pool's gauges, and Go
// runtime and process metrics. It reads the pipeline's counters at scrape time; it must not
// keep state of its own on the request path, and it never uses
// Prometheus's global registry.
package metrics
