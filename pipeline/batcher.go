package pipeline

import (
	"slices"
	"time"
)

// The dynamic-batching rule lives here as one pure function, decideBatch,
// so it can be read and table-tested apart from the goroutines and channels
// that carry it out (scheduler.go). It follows Triton's GetDynamicBatch,
// with two differences that come from trtserve decoding each image
// straight into its batch slot:
//
//   - Images claimed into a batch cannot be handed back (their decode is
//     already writing into the batch's buffers), so the rule decides how
//     many queued images to claim, never to drop claimed ones.
//   - A batch never grows past the largest preferred size, even after the
//     delay has passed (Triton then fills up to max_batch_size).

// batchPolicy is one model's dynamic-batching settings as the batcher
// applies them.
type batchPolicy struct {
	maxBatch  int           // the engine's largest batch: every buffer set holds this many
	preferred []int         // ascending and distinct, each within 1..maxBatch
	delay     time.Duration // max_queue_delay: how long a partial batch may wait for more images
}

func newBatchPolicy(maxBatch int, preferred []int, delay time.Duration) batchPolicy {
	ps := slices.DeleteFunc(slices.Clone(preferred), func(n int) bool { return n < 1 || n > maxBatch })
	slices.Sort(ps)
	return batchPolicy{maxBatch: maxBatch, preferred: slices.Compact(ps), delay: delay}
}

// target is the batch the batcher aims for: the largest preferred size, or
// max_batch_size when none is set.
func (p batchPolicy) target() int {
	if len(p.preferred) > 0 {
		return p.preferred[len(p.preferred)-1]
	}
	return p.maxBatch
}

// shipMode is where a batch goes after a decision.
type shipMode uint8

const (
	// keep: the batch stays with the batcher, which decides again when an
	// image arrives or, if Wait is set, once it has passed.
	keep shipMode = iota
	// shipIdle: the batch goes to the first instance that is idle; until
	// one is, the batcher goes on deciding as images arrive. Partial
	// batches only ever leave this way, so a busy model forms larger
	// batches instead of queueing small ones behind each other.
	shipIdle
	// shipFull: the batch is complete and is queued for the next instance
	// to finish, idle or not.
	shipFull
)

// batchDecision is what the batcher does with the batch it is filling.
type batchDecision struct {
	// Take is how many queued images, oldest first, to claim into the
	// batch now (each gets the next slot and starts decoding into it).
	Take int
	Ship shipMode
	// Wait, with keep, is how long until the oldest image has waited
	// max_queue_delay; zero means wait for an arrival only.
	Wait time.Duration
}

// decideBatch is the dynamic-batching rule: given the images already
// claimed into the batch being filled, the images queued behind them, the
// arrival of the oldest of all of them and the time now, it says how many
// queued images to claim and whether the batch leaves.
//
//  1. A batch that reaches the target (the largest preferred size, else
//     max_batch_size) is complete and leaves at once.
//  2. Preferred sizes, as in Triton: when the images at hand reach a
//     preferred size, the batch takes the largest preferred size they
//     reach and leaves as soon as an instance is idle, without waiting
//     out the delay; images beyond it stay queued for the next batch.
//  3. Otherwise it takes every image at hand and waits for more until the
//     oldest has waited max_queue_delay (0: no wait); then it leaves, as
//     it is, as soon as an instance is idle.
//
// Once the delay has passed, rule 3 wins over rule 2, as in Triton: the
// batch leaves with everything at hand rather than leaving images behind
// that have already waited their delay.
func decideBatch(p batchPolicy, claimed, queued int, oldest, now time.Time) batchDecision {
	target := p.target()
	if claimed >= target {
		return batchDecision{Ship: shipFull}
	}
	reach := min(claimed+queued, target)
	all := reach - claimed
	switch {
	case reach == 0:
		return batchDecision{}
	case reach == target:
		return batchDecision{Take: all, Ship: shipFull}
	}
	age := now.Sub(oldest)
	late := p.delay > 0 && age >= p.delay
	if !late {
		for _, n := range slices.Backward(p.preferred) {
			if n < max(claimed, 1) {
				break
			}
			if n <= reach {
				return batchDecision{Take: n - claimed, Ship: shipIdle}
			}
		}
	}
	if p.delay <= 0 || late {
		return batchDecision{Take: all, Ship: shipIdle}
	}
	return batchDecision{Take: all, Ship: keep, Wait: p.delay - age}
}
