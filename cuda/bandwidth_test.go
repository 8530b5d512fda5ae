package cuda

import (
	"errors"
	"testing"
	"time"
)

func TestMeasureCopyOnMock(t *testing.T) {
	m := NewMock()
	defer m.Close()
	o := BandwidthOptions{Round: time.Millisecond, Rounds: 2}
	for _, c := range []struct {
		dir Direction
		mem HostMemory
	}{
		{HtoD, Pinned}, {HtoD, PinnedWriteCombined}, {HtoD, Pageable},
		{DtoH, Pinned}, {DtoH, PinnedWriteCombined}, {DtoH, Pageable},
		{DtoD, Pinned}, // D2D ignores the host kind
	} {
		before := m.Stats()
		b, err := MeasureCopy(m, c.dir, c.mem, 64<<10, o)
		if err != nil {
			t.Fatalf("%s %s: %v", c.dir, c.mem, err)
		}
		if b.GBps <= 0 || b.Copies < 1 || b.Bytes != 64<<10 || b.Direction != c.dir {
			t.Errorf("%s %s: %+v", c.dir, c.mem, b)
		}
		if c.dir == DtoD && b.Memory != DeviceMemory {
			t.Errorf("D2D reported as %q memory", b.Memory)
		}
		after := m.Stats()
		if after.HostAllocs+after.DeviceAllocs+after.StreamsLive != 0 {
			t.Fatalf("%s %s left %+v", c.dir, c.mem, after)
		}
		// The copies really ran: the mock counts each direction.
		if c.dir == HtoD && after.CopiesHtoD == before.CopiesHtoD && c.mem != Pageable {
			t.Errorf("%s %s: no copy reached the runtime", c.dir, c.mem)
		}
	}
	for _, c := range []struct {
		dir  Direction
		mem  HostMemory
		size int
	}{
		{HtoD, Pinned, 0}, {"sideways", Pinned, 1024}, {HtoD, "swap", 1024},
	} {
		if _, err := MeasureCopy(m, c.dir, c.mem, c.size, o); !errors.Is(err, ErrBadMeasurement) {
			t.Errorf("%s %s %d: err %v, want ErrBadMeasurement", c.dir, c.mem, c.size, err)
		}
	}
	if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive != 0 {
		t.Fatalf("refused measurements left %+v", st)
	}
}

func TestAllocCyclesOnMock(t *testing.T) {
	m := NewMock()
	defer m.Close()
	r, err := AllocCycles(m, AllocCyclesOptions{Cycles: 500})
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
	if _, err := AllocCycles(m, AllocCyclesOptions{Cycles: 5}); err == nil {
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
		r := AllocCyclesResult{AllocCyclesOptions: AllocCyclesOptions{Cycles: 10000, Tolerance: tol}, DeviceFreeDelta: c.dev, VMSizeDelta: c.vm}
		if err := r.Check(); errors.Is(err, ErrMemoryGrowth) != c.wantGrown {
			t.Errorf("%s: Check() = %v, want grown %v", c.name, err, c.wantGrown)
		}
	}
}

func TestVMSize(t *testing.T) {
	v, err := VMSize()
	if err != nil || v < 1<<20 {
		t.Fatalf("VMSize = %d, %v", v, err)
	}
}
