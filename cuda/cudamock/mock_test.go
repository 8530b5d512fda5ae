package cudamock

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
)

// The mock creates contexts as CUDA does: on the device current on the
// calling thread, device 0 where none was chosen.
func TestMockRecordsContexts(t *testing.T) {
	m := &Mock{Devices: 2}
	defer m.Close()
	if _, err := m.DeviceInfo(0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DeviceCount(); err != nil {
		t.Fatal(err)
	}
	if c := m.Contexts(); len(c) != 0 {
		t.Fatalf("describing devices created contexts on %v", c)
	}
	if err := cuda.OnDevice(m, 1, func() error {
		p, err := m.Malloc(16)
		if err != nil {
			return err
		}
		return m.Free(p)
	}); err != nil {
		t.Fatal(err)
	}
	if c := m.Contexts(); !reflect.DeepEqual(c, []int{1}) {
		t.Fatalf("contexts %v after work on device 1", c)
	}
	// A fresh mock is a process where no thread chose a device yet.
	m2 := &Mock{Devices: 2}
	defer m2.Close()
	p, err := m2.HostAlloc(16, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.FreeHost(p); err != nil {
		t.Fatal(err)
	}
	if c := m2.Contexts(); !reflect.DeepEqual(c, []int{0}) {
		t.Fatalf("contexts %v: a pinned allocation on a thread without a device must create one on 0", c)
	}
}

func TestMockChecksCopies(t *testing.T) {
	m := New(1)
	defer m.Close()
	s, _ := m.StreamCreate(0)
	d, _ := m.Malloc(64)
	h, _ := m.HostAlloc(64, cuda.HostAllocPortable)
	if err := m.MemcpyHtoDAsync(d, h, 64, s); err != nil {
		t.Fatal(err)
	}
	if err := m.MemcpyHtoDAsync(d+8, h, 64, s); !errors.Is(err, cuda.ErrCUDA) {
		t.Fatalf("out-of-bounds copy: %v", err)
	}
	if err := m.MemcpyHtoDAsync(d, h, 8, cuda.Stream(999)); !errors.Is(err, cuda.ErrCUDA) {
		t.Fatalf("bad stream: %v", err)
	}
	if err := m.Free(d + 1); err == nil {
		t.Fatal("free of an inner pointer succeeded")
	}
	m.Free(d)
	m.FreeHost(h)
	m.StreamDestroy(s)
	if st := m.Stats(); st.HostAllocs+st.DeviceAllocs+st.StreamsLive != 0 {
		t.Fatalf("%+v", st)
	}
	m.Close()
	if _, err := m.Malloc(1); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestFaultOnFile(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if stop := FaultOnFile(New(1), "", log); stop == nil {
		t.Fatal("no stop function without a file")
	}
	for _, tc := range []struct {
		name, content string
		fault         bool
	}{
		{"sticky code", "700\n", true},
		{"not sticky", "2", false},
		{"not a number", "boom", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(1)
			defer m.Close()
			file := filepath.Join(t.TempDir(), "fault")
			stop := FaultOnFile(m, file, log)
			defer stop()
			if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			// The trigger polls; a fault shows within a few polls or never.
			var err error
			for range 100 {
				if _, err = m.Malloc(16); err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := cuda.IsDeviceFault(err); got != tc.fault {
				t.Fatalf("device fault %v (err %v), want %v", got, err, tc.fault)
			}
			stop()
			stop() // twice is fine
		})
	}
}
