package simgpu

import (
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

// On the CUDA mock, the estimate made before the load is at least the
// device memory the engine and its instances then allocate, and
// FreeMemory reports the pool's budget left and the device's free memory.
func TestEstimateCoversWhatTheMockAllocates(t *testing.T) {
	m := cudamock.New(1)
	pool := cuda.NewPool(m, cuda.PoolOptions{Budget: 64 << 20})
	defer pool.Close()
	b, err := NewBackend(BackendOptions{Runtime: m, Kernel: HostKernel{Runtime: m}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	pinned, device, err := b.FreeMemory()
	if err != nil || pinned != 64<<20 || device != 80<<30 {
		t.Fatalf("FreeMemory = %d, %d, %v", pinned, device, err)
	}
	eng, spec := loadOnMock(t, m, pool, "yolov8n-320/1")
	defer eng.Close()
	spec.InstanceCount = 2
	est, err := b.EstimateLoad(spec)
	if err != nil || !est.PinnedBuffers || est.Depth != 2 {
		t.Fatalf("EstimateLoad = %+v, %v", est, err)
	}
	for range spec.InstanceCount {
		in, err := eng.NewInstance()
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
	}
	if got := m.Stats().DeviceBytes; est.Own.Device < got {
		t.Fatalf("estimated %d device bytes, the mock holds %d", est.Own.Device, got)
	} else {
		t.Logf("estimated %d device bytes, the mock holds %d", est.Own.Device, got)
	}
	block, err := pool.Get(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer block.Release()
	if pinned, _, _ := b.FreeMemory(); pinned != 63<<20 {
		t.Fatalf("pinned budget left %d after a 1 MiB block", pinned)
	}
}
