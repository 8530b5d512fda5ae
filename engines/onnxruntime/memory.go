package onnxruntime

import (
	"os"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

var _ engines.MemoryEstimator = (*Backend)(nil)

// activationFactor approximates what ONNX Runtime's arena holds for one
// batch in flight as this many times the batch's input bytes (YOLO
// feature maps are several times the input image).
const activationFactor = 4

// EstimateLoad implements engines.MemoryEstimator, from the file's size
// alone: the session holds the weights (about the model file's size) once,
// plus, per instance (each runs one batch at a time on the shared
// session), a copy's worth of per-run state and the activations of a full
// batch (activationFactor × its inputs). All of it is host memory.
func (b *Backend) EstimateLoad(spec *model.Spec) (engines.LoadEstimate, error) {
	fi, err := os.Stat(spec.File)
	if err != nil {
		return engines.LoadEstimate{}, err
	}
	in, _ := engines.SpecItemBytes(spec)
	act := engines.SatMul(engines.SatMul(activationFactor, int64(max(spec.MaxBatchSize, 1))), engines.Sum(in))
	perInstance := engines.SatAdd(fi.Size(), act)
	host := engines.SatAdd(fi.Size(), engines.SatMul(int64(max(spec.InstanceCount, 1)), perInstance))
	return engines.LoadEstimate{Own: engines.Memory{Host: host}}, nil
}
