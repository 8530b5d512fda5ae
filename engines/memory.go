package engines

import "github.com/trtserve/trtserve/model"

// Memory is bytes by where they live.
type Memory struct {
	// Host is pageable host memory (weights and sessions of a CPU
	// runtime, its activations).
	Host int64
	// Pinned is page-locked host memory (DMA buffers of a GPU backend).
	Pinned int64
	// Device is GPU memory.
	Device int64
}

// Plus is m and o added, saturating at the largest int64 instead of
// wrapping, so an absurd estimate stays absurd.
func (m Memory) Plus(o Memory) Memory {
	return Memory{SatAdd(m.Host, o.Host), SatAdd(m.Pinned, o.Pinned), SatAdd(m.Device, o.Device)}
}

// Total is every byte of m.
func (m Memory) Total() int64 { return SatAdd(SatAdd(m.Host, m.Pinned), m.Device) }

// SatAdd is a+b for non-negative a and b, saturating at the largest int64.
func SatAdd(a, b int64) int64 {
	if s := a + b; s >= a && s >= b {
		return s
	}
	return 1<<63 - 1
}

// SatMul is a×b for non-negative a and b, saturating at the largest int64.
func SatMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > (1<<63-1)/b {
		return 1<<63 - 1
	}
	return a * b
}

// LoadEstimate is what a backend says a model will hold once loaded with
// spec.InstanceCount instances, before it loads it.
type LoadEstimate struct {
	// Own is the backend's own memory: weights, sessions or engines,
	// per-instance contexts and activations, device buffers. It excludes
	// the pipeline's host batch buffers, which the pipeline counts.
	Own Memory
	// PinnedBuffers says the pipeline's batch buffers for this model will
	// be pinned host memory (the engine is a BufferProvider of pinned
	// memory), not pageable.
	PinnedBuffers bool
	// Depth is how many batches one instance keeps in flight
	// (Submitter.Depth); 0 for an instance that runs one batch at a time.
	Depth int
}

// MemoryEstimator is a Backend that can say, before Load, what loading a
// model will hold. The pipeline's Manager refuses a load whose estimate
// does not fit (--max-model-memory, the host's or the container's free
// memory, the backend's free device and pinned memory) before anything is
// allocated. A backend without it is assumed to hold its model file's
// size in host memory.
//
// Estimates are approximate and err on the high side; they never read
// more than the model's header.
type MemoryEstimator interface {
	EstimateLoad(spec *model.Spec) (LoadEstimate, error)
}

// MemoryReporter is a Backend that can say how much of the memory it
// allocates from is free now: its pinned pool's budget left and its GPU's
// free memory. A negative field means no limit the backend knows of (no
// pool budget, no device).
type MemoryReporter interface {
	FreeMemory() (pinned, device int64, err error)
}

// SpecItemBytes are the bytes of one batch item of each input and output
// tensor as float32, read from the resolved spec before any backend has
// loaded the model: the input at the resolved input size, the outputs as
// the ONNX file fixes them, a symbolic dimension counting as 1 (so this is
// a lower bound where the file leaves dimensions open). An engine-only
// folder has three input channels at the input size and no known outputs.
func SpecItemBytes(spec *model.Spec) (in, out []int64) {
	per := func(shape []int64, input bool) int64 {
		n := int64(4)
		for i, d := range shape {
			switch {
			case i == 0:
				continue
			case input && len(shape) == 4 && i == 2:
				d = int64(spec.InputHeight)
			case input && len(shape) == 4 && i == 3:
				d = int64(spec.InputWidth)
			}
			n = SatMul(n, max(d, 1))
		}
		return n
	}
	if spec.ONNX == nil {
		return []int64{SatMul(SatMul(3*4, int64(max(spec.InputHeight, 1))), int64(max(spec.InputWidth, 1)))}, nil
	}
	for _, t := range spec.ONNX.Inputs {
		in = append(in, per(t.Shape, true))
	}
	for _, t := range spec.ONNX.Outputs {
		out = append(out, per(t.Shape, false))
	}
	return in, out
}

// Sum adds non-negative sizes, saturating.
func Sum(sizes []int64) int64 {
	var t int64
	for _, n := range sizes {
		t = SatAdd(t, n)
	}
	return t
}
