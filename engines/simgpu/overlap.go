package simgpu

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/gpuexec"
)

// OverlapOptions describe an overlap measurement; zero values take a
// YOLOv8 640 detection batch of 8 and 60 batches per figure.
type OverlapOptions struct {
	Runtime cuda.Runtime
	Kernel  Launcher
	Pool    *cuda.Pool
	Device  int
	Batch   int
	// InBytes and OutBytes are one item's sizes (3×640×640 and 84×8400
	// FP32 by default).
	InBytes, OutBytes int
	Batches           int
}

// Overlap is what MeasureOverlap found. Per-batch times are wall time over
// Batches batches.
type Overlap struct {
	Batch, InBytes, OutBytes int
	// CopyOnly is one buffer set with a kernel that only reads its input:
	// H2D + D2H per batch. The kernel is then told to take as long (Busy).
	CopyOnly, Busy time.Duration
	// Serial is one device buffer set (copies and compute in sequence),
	// Overlapped two (batch b+1's copy-in under batch b's kernel).
	Serial, Overlapped time.Duration
	// Speedup is Serial ÷ Overlapped; Ideal is (copies + kernel) ÷
	// max(copies, kernel), what perfect overlap gives; Efficiency is their
	// ratio (the target is 0.8 or more).
	Speedup, Ideal, Efficiency float64
}

// MeasureOverlap measures copy/compute overlap of the simulated engine:
// with the kernel's busy time set to the measured copy time of one batch,
// two buffer sets should approach (copy + compute) / max(copy, compute)
// times the throughput of one.
func MeasureOverlap(o OverlapOptions) (Overlap, error) {
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.InBytes <= 0 {
		o.InBytes = 3 * 640 * 640 * 4
	}
	if o.OutBytes <= 0 {
		o.OutBytes = 84 * 8400 * 4
	}
	if o.Batches <= 0 {
		o.Batches = 60
	}
	res := Overlap{Batch: o.Batch, InBytes: o.InBytes, OutBytes: o.OutBytes}
	perBatch := func(depth int, busy time.Duration) (time.Duration, error) {
		inst, err := newKernelInstance(kernelOptions{Runtime: o.Runtime, Kernel: o.Kernel, Device: o.Device, Depth: depth, MaxBatch: o.Batch,
			InBytes: o.InBytes, OutBytes: o.OutBytes, Base: busy})
		if err != nil {
			return 0, err
		}
		defer inst.Close()
		if _, err := drive(inst, o.Pool, o.InBytes, o.OutBytes, o.Batch, 3); err != nil { // warm-up
			return 0, err
		}
		took, err := drive(inst, o.Pool, o.InBytes, o.OutBytes, o.Batch, o.Batches)
		return took / time.Duration(o.Batches), err
	}
	var err error
	if res.CopyOnly, err = perBatch(1, 0); err != nil {
		return res, fmt.Errorf("copies only: %w", err)
	}
	res.Busy = res.CopyOnly
	if res.Serial, err = perBatch(1, res.Busy); err != nil {
		return res, fmt.Errorf("one buffer set: %w", err)
	}
	if res.Overlapped, err = perBatch(2, res.Busy); err != nil {
		return res, fmt.Errorf("two buffer sets: %w", err)
	}
	res.Speedup = float64(res.Serial) / float64(res.Overlapped)
	res.Ideal = float64(res.CopyOnly+res.Busy) / float64(max(res.CopyOnly, res.Busy))
	res.Efficiency = res.Speedup / res.Ideal
	return res, nil
}

// drive pushes n batches through inst with Depth+1 pinned host buffer sets
// in rotation, so the host never waits for a buffer the device could be
// filling, and returns the wall time. The first error ends it.
func drive(inst *gpuexec.Instance, pool *cuda.Pool, inBytes, outBytes, batch, n int) (time.Duration, error) {
	sets := inst.Depth() + 1
	alloc := gpuexec.PinnedAllocator{Pool: pool}
	type set struct{ in, out *engines.HostBuffer }
	var ss []set
	defer func() {
		for _, s := range ss {
			s.in.Close()
			s.out.Close()
		}
	}()
	for range sets {
		a, err := alloc.Alloc(inBytes * batch)
		if err != nil {
			return 0, err
		}
		b, err := alloc.Alloc(outBytes * batch)
		if err != nil {
			a.Close()
			return 0, err
		}
		ss = append(ss, set{a, b})
	}
	free := make(chan set, sets)
	for _, s := range ss {
		free <- s
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	t0 := time.Now()
	for range n {
		s := <-free
		wg.Add(1)
		err := inst.Submit(batch, []*engines.HostBuffer{s.in}, []*engines.HostBuffer{s.out}, func(err error) {
			if err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
			}
			free <- s
			wg.Done()
		})
		if err != nil {
			wg.Done()
			wg.Wait()
			return 0, err
		}
	}
	wg.Wait()
	return time.Since(t0), first
}
