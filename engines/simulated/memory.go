package simulated

import (
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
