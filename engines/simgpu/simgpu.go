package simgpu

import (
	"fmt"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines/gpuexec"
)

// Launcher runs the simulated network on a stream; *cuda.SimKernel is the
// real one.
type Launcher interface {
	Launch(s cuda.Stream, in cuda.DevicePtr, inBytes int, out cuda.DevicePtr, outBytes int, busy time.Duration, batch int) error
}

// kernelOptions describe one bare executor instance running the
// simulated kernel and nothing else (what MeasureOverlap drives; the
// servable Engine.NewInstance adds the output templates' copies).
type kernelOptions struct {
	Runtime  cuda.Runtime
	Kernel   Launcher
	Device   int
	Depth    int // device buffer sets: 1 serializes copies and compute, 2 overlaps them
	MaxBatch int
	// InBytes and OutBytes are one item's input and output sizes.
	InBytes, OutBytes int
	// The kernel keeps the stream busy for Base + PerItem×batch.
	Base, PerItem time.Duration
}

// newKernelInstance starts a GPU executor instance whose compute is the
// simulated kernel.
func newKernelInstance(o kernelOptions) (*gpuexec.Instance, error) {
	if o.Kernel == nil {
		return nil, fmt.Errorf("simulated engine: no kernel (make simkernel)")
	}
	return gpuexec.New(gpuexec.Options{
		Runtime: o.Runtime, Device: o.Device, Depth: o.Depth, MaxBatch: o.MaxBatch,
		InBytes: []int{o.InBytes}, OutBytes: []int{o.OutBytes},
		NewCompute: func() (gpuexec.Compute, error) { return &compute{o}, nil },
	})
}

type compute struct{ o kernelOptions }

func (c *compute) Enqueue(s cuda.Stream, batch int, in, out []cuda.DevicePtr, consumed cuda.Event) error {
	busy := c.o.Base + time.Duration(batch)*c.o.PerItem
	if err := c.o.Kernel.Launch(s, in[0], batch*c.o.InBytes, out[0], batch*c.o.OutBytes, busy, batch); err != nil {
		return err
	}
	// The kernel reads its input until it ends: only then may the copy-in
	// stream overwrite it.
	return c.o.Runtime.EventRecord(consumed, s)
}

func (c *compute) Close() error { return nil }
