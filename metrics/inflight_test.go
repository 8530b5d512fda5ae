package metrics

import (
	"sync/atomic"
	"testing"
)

func TestInflightBytesGauges(t *testing.T) {
	reg := New(noModels{})
	if err := reg.RegisterInflightBytes(nil); err == nil {
		t.Error("nil reader accepted")
	}
	var used, peak atomic.Int64
	const limit = 1 << 30
	if err := reg.RegisterInflightBytes(func() (int64, int64, int64) { return limit, used.Load(), peak.Load() }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ used, peak int64 }{{0, 0}, {5 << 20, 5 << 20}, {1 << 20, 5 << 20}} {
		used.Store(tc.used)
		peak.Store(tc.peak)
		for name, want := range map[string]int64{"trtserve_inflight_bytes": tc.used, "trtserve_inflight_bytes_peak": tc.peak, "trtserve_inflight_bytes_limit": limit} {
			if got := gaugeOrCounter(t, reg, name); got != float64(want) {
				t.Errorf("used %d peak %d: %s = %v, want %d", tc.used, tc.peak, name, got, want)
			}
		}
	}
}
