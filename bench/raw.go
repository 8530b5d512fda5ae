package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
)

// Raw measures a backend alone: the model's engine run back to back on
// pre-filled tensors at each batch size, with as many concurrent instances
// as the model config asks for. No decode, no HTTP, no scheduling: the
// ceiling the server's fps is compared with.
type Raw struct {
	Repo     *repository.Repository
	Backends *engines.BackendSet
	Model    string
	Batches  []int // empty: 1, 2, 4, ... up to the engine's max
	Warmup   time.Duration
	Duration time.Duration
}

// RawLevel is one batch size's throughput.
type RawLevel struct {
	Backend   string
	Batch     int
	Instances int
	FPS       float64
	BatchTime time.Duration // mean engine time per batch
}

// Run loads the model and measures each batch size.
func (r *Raw) Run(ctx context.Context) ([]RawLevel, error) {
	entry, err := r.Repo.Find(r.Model)
	if err != nil {
		return nil, err
	}
	spec, err := r.Repo.Resolve(entry)
	if err != nil {
		return nil, err
	}
	backend, err := r.Backends.Get(spec.Backend)
	if err != nil {
		return nil, err
	}
	eng, err := backend.Load(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	batches := r.Batches
	if len(batches) == 0 {
		for b := 1; b < eng.MaxBatch(); b *= 2 {
			batches = append(batches, b)
		}
		batches = append(batches, eng.MaxBatch())
	}
	if eng.FixedBatch() {
		batches = []int{eng.MaxBatch()}
	}
	var out []RawLevel
	for _, b := range batches {
		if b < 1 || b > eng.MaxBatch() {
			return out, fmt.Errorf("batch %d outside 1..%d", b, eng.MaxBatch())
		}
		lv, err := r.level(ctx, eng, b, max(spec.InstanceCount, 1))
		if err != nil {
			return out, err
		}
		lv.Backend = spec.Backend
		out = append(out, lv)
	}
	return out, nil
}

func (r *Raw) level(ctx context.Context, eng engines.Engine, batch, instances int) (RawLevel, error) {
	type runner struct {
		inst    engines.Instance
		in, out []*engines.HostBuffer
	}
	var runners []runner
	defer func() {
		for _, ru := range runners {
			for _, b := range append(ru.in, ru.out...) {
				b.Close()
			}
			ru.inst.Close()
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for range instances {
		inst, err := eng.NewInstance()
		if err != nil {
			return RawLevel{}, err
		}
		ru := runner{inst: inst}
		for _, set := range []struct {
			ts  []model.TensorInfo
			dst *[]*engines.HostBuffer
		}{{eng.Inputs(), &ru.in}, {eng.Outputs(), &ru.out}} {
			for _, t := range set.ts {
				buf, err := engines.MmapAllocator{}.Alloc(t.ElemsPerItem() * eng.MaxBatch() * 4)
				if err != nil {
					return RawLevel{}, err
				}
				*set.dst = append(*set.dst, buf)
			}
		}
		for _, buf := range ru.in {
			for i, f := 0, buf.Float32s(); i < len(f); i++ {
				f[i] = rng.Float32() // an image-like range; convolution cost does not depend on values
			}
		}
		runners = append(runners, ru)
	}
	var runs atomic.Int64
	var busy atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	measureFrom, end := start.Add(r.Warmup), start.Add(r.Warmup+r.Duration)
	for _, ru := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if err := ru.inst.Run(ctx, batch, ru.in, ru.out); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				if t0.After(measureFrom) {
					runs.Add(1)
					busy.Add(int64(time.Since(t0)))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return RawLevel{}, firstErr
	}
	n := runs.Load()
	lv := RawLevel{Batch: batch, Instances: instances}
	if n > 0 {
		lv.FPS = float64(n*int64(batch)) / r.Duration.Seconds()
		lv.BatchTime = time.Duration(busy.Load() / n)
	}
	return lv, ctx.Err()
}
