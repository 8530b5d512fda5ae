package simulated

import (
	"fmt"
	"math"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

var _ engines.MemoryEstimator = (*Backend)(nil)

// EstimateLoad implements engines.MemoryEstimator: the simulated backend
// reads no weights; it holds its synthetic outputs (variants of one item
// of each output, resolved as Load resolves them) and nothing per instance.
func (*Backend) EstimateLoad(spec *model.Spec) (engines.LoadEstimate, error) {
	return engines.LoadEstimate{Own: engines.Memory{Host: engines.SatMul(variants, OutputItemBytes(spec))}}, nil
}

// OutputItemBytes is one item of every output as Load resolves their
// shapes (symbolic YOLO dimensions from the input size), float32; an
// output it cannot resolve counts as its fixed dimensions only.
func OutputItemBytes(spec *model.Spec) int64 {
	if spec.ONNX == nil {
		return 0
	}
	var total int64
	for _, o := range spec.ONNX.Outputs {
		shape := append([]int64(nil), o.Shape...)
		if len(shape) >= 2 {
			resolveDims(shape, spec.InputHeight, spec.InputWidth) // unresolved dims stay ≤ 0: counted as 1
		}
		n := int64(4)
		for _, d := range shape[min(1, len(shape)):] {
			n = engines.SatMul(n, max(d, 1))
		}
		total = engines.SatAdd(total, n)
	}
	return total
}

// Variants is how many synthetic outputs each model holds (per item, per
// output), for the simulated GPU backend's estimate.
const Variants = variants

// MaxMicros bounds simulated.base_us and simulated.per_item_us: a batch
// sleeping longer would hold its instance (and a model's Close, which
// waits for it) for as long, whoever sent the config.
const MaxMicros = 10_000_000

// check refuses simulated times beyond MaxMicros, naming the key and the
// bound.
func (t Timing) check() error {
	for _, v := range []struct {
		key string
		us  float64
	}{{"simulated.base_us", t.BaseMicros}, {"simulated.per_item_us", t.PerItemMicros}} {
		if math.IsNaN(v.us) {
			return fmt.Errorf("%w: config.yaml: %s must be a number of microseconds", model.ErrBadModel, v.key)
		}
		if v.us > MaxMicros {
			return fmt.Errorf("%w: config.yaml: %s %v is above the limit %d", model.ErrBadModel, v.key, v.us, MaxMicros)
		}
	}
	return nil
}
