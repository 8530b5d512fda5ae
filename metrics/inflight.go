package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterInflightBytes reports the server-wide bound on the bytes that
// admitted requests hold (--max-inflight-bytes): what they hold now, the
// most they have held at once, and the bound. An operator sizing the
// bound, or a container's memory, reads used and peak against limit; a
// limit of 0 means no bound. The budget lives in package pipeline, which
// the server passes in as read (safe to call from any goroutine).
func (r *Registry) RegisterInflightBytes(read func() (limit, used, peak int64)) error {
	if read == nil {
		return errors.New("metrics: nil in-flight bytes reader")
	}
	gauge := func(name, help string, pick func(limit, used, peak int64) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(pick(read()))
		})
	}
	return r.Register(
		gauge("trtserve_inflight_bytes", "Bytes that admitted requests hold now (images and tensors waiting or in work), counted against --max-inflight-bytes",
			func(_, used, _ int64) int64 { return used }),
		gauge("trtserve_inflight_bytes_peak", "The most bytes admitted requests have held at once since the server started",
			func(_, _, peak int64) int64 { return peak }),
		gauge("trtserve_inflight_bytes_limit", "The bound on the bytes admitted requests may hold (--max-inflight-bytes); 0: no bound",
			func(limit, _, _ int64) int64 { return limit }),
	)
}
