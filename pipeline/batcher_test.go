package pipeline

import (
	"fmt"
	"testing"
	"time"
)

// The batching rule alone: no goroutines, no clock, no sleeping.
func TestDecideBatch(t *testing.T) {
	const ms = time.Millisecond
	plain := newBatchPolicy(8, nil, 10*ms)           // max_queue_delay 10 ms, no preferred sizes
	eager := newBatchPolicy(8, nil, 0)               // no delay: ship what is ready
	pref := newBatchPolicy(8, []int{4, 2, 2}, 10*ms) // preferred 2 and 4 (unsorted, repeated)
	prefNow := newBatchPolicy(8, []int{2, 4}, 0)
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name            string
		p               batchPolicy
		claimed, queued int
		age             time.Duration // how long the oldest image has waited
		want            batchDecision
	}{
		{"nothing at hand waits for an arrival", plain, 0, 0, 0, batchDecision{}},
		{"a full batch leaves at once", plain, 0, 8, 0, batchDecision{Take: 8, Ship: shipFull}},
		{"never more than max batch", plain, 3, 20, 0, batchDecision{Take: 5, Ship: shipFull}},
		{"a claimed full batch leaves", plain, 8, 3, 0, batchDecision{Ship: shipFull}},
		{"a partial batch takes all and waits out the delay", plain, 1, 2, 0, batchDecision{Take: 2, Wait: 10 * ms}},
		{"the wait counts from the oldest image", plain, 3, 0, 4 * ms, batchDecision{Wait: 6 * ms}},
		{"after the delay it leaves when an instance is idle", plain, 3, 0, 10 * ms, batchDecision{Ship: shipIdle}},
		{"late, it still takes what is queued", plain, 3, 2, 25 * ms, batchDecision{Take: 2, Ship: shipIdle}},
		{"no delay: what is ready leaves", eager, 0, 3, 0, batchDecision{Take: 3, Ship: shipIdle}},
		{"no delay, nothing queued", eager, 2, 0, 0, batchDecision{Ship: shipIdle}},

		{"the largest preferred size is the whole batch", pref, 0, 9, 0, batchDecision{Take: 4, Ship: shipFull}},
		{"below every preferred size it waits", pref, 0, 1, 0, batchDecision{Take: 1, Wait: 10 * ms}},
		{"reaching a preferred size leaves without waiting", pref, 1, 1, time.Microsecond, batchDecision{Take: 1, Ship: shipIdle}},
		{"a preferred size already claimed leaves", pref, 2, 0, 0, batchDecision{Ship: shipIdle}},
		{"the largest preferred size reached, the rest stays queued", pref, 0, 3, 0, batchDecision{Take: 2, Ship: shipIdle}},
		{"a claimed preferred size keeps the rest queued", pref, 2, 1, 0, batchDecision{Ship: shipIdle}},
		{"growing to the next preferred size completes it", pref, 2, 2, 0, batchDecision{Take: 2, Ship: shipFull}},
		{"late, everything at hand leaves", pref, 1, 2, 10 * ms, batchDecision{Take: 2, Ship: shipIdle}},
		{"late below every preferred size", pref, 1, 0, 10 * ms, batchDecision{Ship: shipIdle}},
		{"preferred sizes win with no delay too", prefNow, 0, 3, 0, batchDecision{Take: 2, Ship: shipIdle}},
		{"no delay, no preferred size reached", prefNow, 0, 1, 0, batchDecision{Take: 1, Ship: shipIdle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideBatch(tc.p, tc.claimed, tc.queued, now.Add(-tc.age), now); got != tc.want {
				t.Fatalf("decideBatch(%d claimed, %d queued, %v old) = %+v, want %+v", tc.claimed, tc.queued, tc.age, got, tc.want)
			}
		})
	}
}

func TestNewBatchPolicy(t *testing.T) {
	for _, tc := range []struct {
		maxBatch  int
		preferred []int
		want      string // preferred sizes kept, then the target
	}{
		{8, nil, "[] 8"},
		{8, []int{4, 2, 4}, "[2 4] 4"},
		{4, []int{0, 6, 3, -1}, "[3] 3"},
		{4, []int{9}, "[] 4"},
	} {
		p := newBatchPolicy(tc.maxBatch, tc.preferred, 0)
		if got := fmt.Sprintf("%v %d", p.preferred, p.target()); got != tc.want {
			t.Fatalf("newBatchPolicy(%d, %v): %s, want %s", tc.maxBatch, tc.preferred, got, tc.want)
		}
	}
}
