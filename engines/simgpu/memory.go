package simgpu

import (
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/model"
)

var (
	_ engines.MemoryEstimator = (*Backend)(nil)
	_ engines.MemoryReporter  = (*Backend)(nil)
)

// EstimateLoad implements engines.MemoryEstimator: the synthetic outputs'
// variants on the device, and per instance the executor's ring of Depth
// device buffer sets of max_batch_size items plus the kernel's scratch;
// the batch buffers are pinned.
func (b *Backend) EstimateLoad(spec *model.Spec) (engines.LoadEstimate, error) {
	in, _ := engines.SpecItemBytes(spec)
	out := simulated.OutputItemBytes(spec)
	batch := int64(max(spec.MaxBatchSize, 1))
	ring := engines.SatMul(engines.SatMul(int64(b.o.Depth), batch), engines.SatAdd(engines.Sum(in), out))
	perInstance := engines.SatAdd(ring, batch)
	dev := engines.SatAdd(engines.SatMul(simulated.Variants, out), engines.SatMul(int64(max(spec.InstanceCount, 1)), perInstance))
	return engines.LoadEstimate{Own: engines.Memory{Device: dev}, PinnedBuffers: true, Depth: b.o.Depth}, nil
}

// FreeMemory implements engines.MemoryReporter: the pinned pool's budget
// left and the device's free memory.
func (b *Backend) FreeMemory() (pinned, device int64, err error) {
	return freeMemory(b.o.Runtime, b.o.Device, b.o.Pool)
}

func freeMemory(rt cuda.Runtime, dev int, pool *cuda.Pool) (pinned, device int64, err error) {
	pinned = pool.Available()
	err = cuda.OnDevice(rt, dev, func() error {
		var err error
		device, _, err = rt.MemGetInfo()
		return err
	})
	return pinned, device, err
}
