package simgpu

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"unsafe"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
)

func loadOnMock(t *testing.T, m *cudamock.Mock, pool *cuda.Pool, id string) (*Engine, *model.Spec) {
	t.Helper()
	b, err := NewBackend(BackendOptions{Runtime: m, Kernel: HostKernel{Runtime: m}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	repo := &repository.Repository{Roots: []string{"../../testdata/models"}, Defaults: repository.Defaults{MaxBatchSize: 4, ForceBackend: Name}}
	e, err := repo.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := repo.Resolve(e)
	if err != nil {
		t.Fatal(err)
	}
	spec.Config = []byte("simulated: {base_us: 100, per_item_us: 10}\n")
	eng, err := b.Load(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return eng.(*Engine), spec
}

func f32bytes(f []float32) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4) }

// On the mock, the servable backend's outputs are exactly the simulated
// backend's synthetic outputs for each item's variant, copied on the
// "device"; the same input gets the same answer; the kernel saw every
// input byte; a refused batch leaves the queue of variants in step; and
// nothing leaks.
func TestBackendOnMock(t *testing.T) {
	for _, id := range []string{"yolov8n-320/1", "yolov8n-seg-320/1", "yolov8n-cls-320/1"} {
		t.Run(id, func(t *testing.T) {
			m := cudamock.New(1)
			defer m.Close()
			pool := cuda.NewPool(m, cuda.PoolOptions{})
			eng, spec := loadOnMock(t, m, pool, id)
			sim, err := simulated.New().Load(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if len(eng.Outputs()) != len(sim.Outputs()) || eng.MaxBatch() != 4 {
				t.Fatalf("outputs %v, max batch %d", eng.Outputs(), eng.MaxBatch())
			}
			inst, err := eng.NewInstance()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := inst.(engines.Submitter); !ok {
				t.Fatal("instance does not overlap batches (not a Submitter)")
			}
			alloc := eng.Allocator()
			const batch = 3
			in, err := alloc.Alloc(batch * eng.inBytes)
			if err != nil {
				t.Fatal(err)
			}
			var outs []*engines.HostBuffer
			for _, n := range eng.outBytes {
				o, err := alloc.Alloc(batch * n)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, o)
			}
			variants := map[int]bool{}
			check := func(seed byte) {
				t.Helper()
				item := eng.inBytes
				for k := range batch {
					for i := range in.Bytes()[k*item : (k+1)*item] {
						in.Bytes()[k*item+i] = byte(i*7) + seed*byte(k+1)
					}
				}
				before := m.Stats().BytesHtoD
				if err := inst.Run(context.Background(), batch, []*engines.HostBuffer{in}, outs); err != nil {
					t.Fatal(err)
				}
				// The executor's copy-in plus the host kernel's read-back: the
				// input went to the device and was read there.
				if got := m.Stats().BytesHtoD - before; got < int64(batch*item) {
					t.Fatalf("%d bytes copied to the device, want at least %d", got, batch*item)
				}
				for k := range batch {
					v := variant(in.Bytes()[k*item:(k+1)*item], eng.sim.Variants())
					variants[v] = true
					for i, o := range outs {
						n := eng.outBytes[i]
						if !bytes.Equal(o.Bytes()[k*n:(k+1)*n], f32bytes(eng.sim.Template(i, v))) {
							t.Fatalf("seed %d item %d output %d: not variant %d's synthetic output", seed, k, i, v)
						}
					}
				}
			}
			check(1)
			check(2)
			check(1) // the same input again: the same answer
			if len(variants) < 2 {
				t.Errorf("six different items all got variant %v", variants)
			}
			sub := inst.(engines.Submitter)
			if err := sub.Submit(eng.MaxBatch()+1, []*engines.HostBuffer{in}, outs, func(error) {}); err == nil {
				t.Fatal("a batch above the maximum was accepted")
			}
			check(3) // the refused batch left nothing queued
			for _, b := range append(outs, in) {
				b.Close()
			}
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			if err := eng.Close(); err != nil {
				t.Fatal(err)
			}
			pool.Close()
			if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive+st.EventsLive != 0 {
				t.Fatalf("leaked %+v", st)
			}
		})
	}
}

func TestBackendNeedsItsParts(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{})
	defer pool.Close()
	for _, o := range []BackendOptions{
		{Kernel: HostKernel{Runtime: m}, Pool: pool},
		{Runtime: m, Pool: pool},
		{Runtime: m, Kernel: HostKernel{Runtime: m}},
	} {
		if _, err := NewBackend(o); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%+v: err %v, want ErrUnavailable", o, err)
		}
	}
}

func TestVariantIsStableAndSpread(t *testing.T) {
	item := make([]byte, 3*64*64*4)
	seen := map[int]bool{}
	for s := range 64 {
		for i := range item {
			item[i] = byte(i + s*31)
		}
		v := variant(item, 8)
		if v != variant(item, 8) {
			t.Fatal("variant is not deterministic")
		}
		seen[v] = true
	}
	if len(seen) < 4 {
		t.Errorf("64 different items fell in %d of 8 variants", len(seen))
	}
	if v := variant([]byte{1, 2, 3}, 8); v < 0 || v >= 8 {
		t.Errorf("a 3-byte item: variant %d", v)
	}
}
