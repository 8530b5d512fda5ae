package tensorrt

import (
	"os"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
)

var (
	_ engines.MemoryEstimator = (*Backend)(nil)
	_ engines.MemoryReporter  = (*Backend)(nil)
)

// activationFactor approximates an execution context's activation memory
// as this many times its inputs' bytes per batch: TensorRT only knows it
// once the engine is deserialized, and the estimate runs before.
const activationFactor = 4

// EstimateLoad implements engines.MemoryEstimator, before any build or
// deserialization: on the GPU, the weights (the ONNX or engine file's
// size: an FP32 plan is about as big as its ONNX, lower precisions
// smaller) and per instance the executor's ring of Depth device buffer
// sets of max_batch_size items plus the context's activations
// (activationFactor × its inputs); the batch buffers are pinned.
// Outputs whose dimensions the ONNX leaves symbolic count as 1 here; the
// manager checks the buffers again with the engine's own shapes.
func (b *Backend) EstimateLoad(spec *model.Spec) (engines.LoadEstimate, error) {
	in, out := engines.SpecItemBytes(spec)
	batch := int64(max(spec.MaxBatchSize, 1))
	ring := engines.SatMul(engines.SatMul(int64(b.opts.Depth), batch), engines.SatAdd(engines.Sum(in), engines.Sum(out)))
	act := engines.SatMul(engines.SatMul(activationFactor, batch), engines.Sum(in))
	var weights int64
	if fi, err := os.Stat(spec.File); err == nil {
		weights = fi.Size()
	}
	dev := engines.SatAdd(weights, engines.SatMul(int64(max(spec.InstanceCount, 1)), engines.SatAdd(ring, act)))
	return engines.LoadEstimate{Own: engines.Memory{Device: dev}, PinnedBuffers: true, Depth: b.opts.Depth}, nil
}

// FreeMemory implements engines.MemoryReporter: the pinned pool's budget
// left and the GPU's free memory (asked on the backend's device, so no
// other GPU gets a context).
func (b *Backend) FreeMemory() (pinned, device int64, err error) {
	pinned = b.opts.Pool.Available()
	err = b.onDevice(func() error {
		var err error
		device, _, err = b.opts.Runtime.MemGetInfo()
		return err
	})
	return pinned, device, err
}
