package cuda_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

func TestMeasureCopyOnMock(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	o := cuda.BandwidthOptions{Round: time.Millisecond, Rounds: 2}
	for _, c := range []struct {
		dir cuda.Direction
		mem cuda.HostMemory
	}{
		{cuda.HtoD, cuda.Pinned}, {cuda.HtoD, cuda.PinnedWriteCombined}, {cuda.HtoD, cuda.Pageable},
		{cuda.DtoH, cuda.Pinned}, {cuda.DtoH, cuda.PinnedWriteCombined}, {cuda.DtoH, cuda.Pageable},
		{cuda.DtoD, cuda.Pinned}, // D2D ignores the host kind
	} {
		before := m.Stats()
		b, err := cuda.MeasureCopy(m, c.dir, c.mem, 64<<10, o)
		if err != nil {
			t.Fatalf("%s %s: %v", c.dir, c.mem, err)
		}
		if b.GBps <= 0 || b.Copies < 1 || b.Bytes != 64<<10 || b.Direction != c.dir {
			t.Errorf("%s %s: %+v", c.dir, c.mem, b)
		}
		if c.dir == cuda.DtoD && b.Memory != cuda.DeviceMemory {
			t.Errorf("D2D reported as %q memory", b.Memory)
		}
		after := m.Stats()
		if after.HostAllocs+after.DeviceAllocs+after.StreamsLive != 0 {
			t.Fatalf("%s %s left %+v", c.dir, c.mem, after)
		}
		// The copies really ran: the mock counts each direction.
		if c.dir == cuda.HtoD && after.CopiesHtoD == before.CopiesHtoD && c.mem != cuda.Pageable {
			t.Errorf("%s %s: no copy reached the runtime", c.dir, c.mem)
		}
	}
	for _, c := range []struct {
		dir  cuda.Direction
		mem  cuda.HostMemory
		size int
	}{
		{cuda.HtoD, cuda.Pinned, 0}, {"sideways", cuda.Pinned, 1024}, {cuda.HtoD, "swap", 1024},
	} {
		if _, err := cuda.MeasureCopy(m, c.dir, c.mem, c.size, o); !errors.Is(err, cuda.ErrBadMeasurement) {
			t.Errorf("%s %s %d: err %v, want cuda.ErrBadMeasurement", c.dir, c.mem, c.size, err)
		}
	}
	if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive != 0 {
		t.Fatalf("refused measurements left %+v", st)
	}
}

func TestAllocCyclesOnMock(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	r, err := cuda.AllocCycles(m, cuda.AllocCyclesOptions{Cycles: 500})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles != 500 || r.HostSize != 64<<10 || r.DeviceSize != 1<<20 || r.Tolerance != 64<<20 || r.DeviceFreeDelta != 0 {
		t.Errorf("result %+v", r)
	}
	if err := r.Check(); err != nil {
		t.Error(err)
	}
	m.DeviceLimit = 1 // every device allocation now fails: the error ends the run
	if _, err := cuda.AllocCycles(m, cuda.AllocCyclesOptions{Cycles: 5}); err == nil {
		t.Error("a failing Malloc went unreported")
	}
}

func TestAllocCyclesCheck(t *testing.T) {
	tol := int64(64 << 20)
	for _, c := range []struct {
		name      string
		dev, vm   int64
		wantGrown bool
	}{
		{"still", 0, 0, false},
		{"noise within tolerance", -tol, tol, false},
		{"device lost", -tol - 1, 0, true},
		{"device gained beyond tolerance (another process freed)", tol + 1, 0, true},
		{"host grew", 0, tol + 1, true},
		{"host shrank", 0, -10 * tol, false},
	} {
		r := cuda.AllocCyclesResult{AllocCyclesOptions: cuda.AllocCyclesOptions{Cycles: 10000, Tolerance: tol}, DeviceFreeDelta: c.dev, VMSizeDelta: c.vm}
		if err := r.Check(); errors.Is(err, cuda.ErrMemoryGrowth) != c.wantGrown {
			t.Errorf("%s: Check() = %v, want grown %v", c.name, err, c.wantGrown)
		}
	}
}

func TestVMSize(t *testing.T) {
	v, err := cuda.VMSize()
	if err != nil || v < 1<<20 {
		t.Fatalf("cuda.VMSize = %d, %v", v, err)
	}
}
