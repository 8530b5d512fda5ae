package pipeline

import (
	"fmt"
	"time"

	"github.com/trtserve/trtserve/config"
)

// Mode picks how a model runs its requests.
type Mode string

const (
	// Parallel: admission queue, decode pool, dynamic batcher, instances
	// with buffer rings, postprocess pool (see doc.go).
	Parallel Mode = "parallel"
	// Serial: decode → infer at batch 1 → postprocess on the requester's
	// goroutine, holding an instance throughout. The baseline.
	Serial Mode = "serial"
)

// ParseMode reads --pipeline.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Parallel, Serial:
		return Mode(s), nil
	}
	return "", fmt.Errorf("pipeline must be parallel or serial, got %q", s)
}

// Options are one model's scheduling settings: Triton's dynamic_batching
// fields plus the pipeline's own. A zero field takes its default from
// package config.
type Options struct {
	Mode Mode
	// MaxQueueSize bounds the images admitted and not yet in a batch slot
	// (serial: not yet holding an instance). A request that does not fit
	// fails with ErrBusy at once.
	MaxQueueSize int
	// MaxQueueDelay is how long a partial batch may wait for more images
	// once an instance is free (Triton's max_queue_delay_microseconds; 0
	// ships what is ready).
	MaxQueueDelay time.Duration
	// PreferredBatchSizes (Triton's preferred_batch_size): when the images
	// at hand reach one, the largest reached leaves without waiting out
	// MaxQueueDelay; the largest of all is the batch the batcher aims for
	// (decideBatch has the whole rule). Sizes outside 1..max batch are
	// ignored.
	PreferredBatchSizes []int
	// RingDepth is the number of batch buffer sets per instance (≥2): one
	// filling while another runs and a third being postprocessed.
	RingDepth int
	// Warmup runs every instance once on zeros before the model serves, so
	// a model is ready only once it has run (Triton's model_warmup). The
	// Manager always sets it.
	Warmup bool
}

func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = Mode(config.DefaultPipeline)
	}
	if o.MaxQueueSize <= 0 {
		o.MaxQueueSize = config.DefaultMaxQueueSize
	}
	if o.RingDepth < 2 {
		o.RingDepth = config.DefaultRingDepth
	}
	return o
}
