package cuda

import (
	"errors"
	"reflect"
	"testing"
)

func TestStickyCodes(t *testing.T) {
	for _, tc := range []struct {
		code   int
		sticky bool
	}{
		{700, true}, // cudaErrorIllegalAddress
		{702, true}, // cudaErrorLaunchTimeout
		{710, true}, // cudaErrorAssert
		{714, true}, {715, true}, {716, true}, {717, true}, {718, true},
		{719, true}, // cudaErrorLaunchFailure
		{721, true}, // cudaErrorTensorMemoryLeak
		{226, true}, // cudaErrorContained
		{810, true}, // cudaErrorMpsClientTerminated
		{911, true}, // cudaErrorExternalDevice
		{0, false},
		{2, false},   // cudaErrorMemoryAllocation: one call failed
		{35, false},  // cudaErrorInsufficientDriver: no device, not a lost one
		{214, false}, // cudaErrorECCUncorrectable: not documented as sticky
		{701, false}, // cudaErrorLaunchOutOfResources
		{709, false}, // cudaErrorContextIsDestroyed
		{720, false}, // cudaErrorCooperativeLaunchTooLarge
		{999, false}, // cudaErrorUnknown
	} {
		e := &APIError{Op: "cudaStreamSynchronize", Code: tc.code, kind: ErrCUDA}
		if got := IsDeviceFault(e); got != tc.sticky {
			t.Errorf("code %d: IsDeviceFault %v, want %v", tc.code, got, tc.sticky)
		}
		if !errors.Is(e, ErrCUDA) {
			t.Errorf("code %d: no longer an ErrCUDA", tc.code)
		}
	}
}

func TestCandidatesFor(t *testing.T) {
	for _, tc := range []struct {
		major int
		want  []string
	}{
		{0, []string{"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}},
		{13, []string{"libcudart.so.13", "libcudart.so", "libcudart.so.12", "libcudart.so.11.0"}},
		{12, []string{"libcudart.so.12", "libcudart.so", "libcudart.so.13", "libcudart.so.11.0"}},
		{11, []string{"libcudart.so.11.0", "libcudart.so", "libcudart.so.13", "libcudart.so.12"}},
		// A major we do not list still goes first: the shim knows best.
		{14, []string{"libcudart.so.14", "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}},
	} {
		if got := CandidatesFor(tc.major); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CandidatesFor(%d) = %v, want %v", tc.major, got, tc.want)
		}
	}
	// The default list is not changed by a call.
	CandidatesFor(0)[0] = "x"
	if cudartCandidates[0] != "libcudart.so" {
		t.Fatal("CandidatesFor returned the package's own slice")
	}
}

func TestWatchReportsTheFirstStickyErrorOnce(t *testing.T) {
	m := NewMock()
	defer m.Close()
	var got []error
	w := Watch(m, func(err error) { got = append(got, err) })
	p, err := w.Malloc(64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Malloc(-1); err == nil || len(got) != 0 {
		t.Fatalf("a plain error (%v) must not count as a fault: %v", err, got)
	}
	m.InjectFault(700)
	for range 3 {
		if err := w.Free(p); !IsDeviceFault(err) {
			t.Fatalf("after a sticky error every call fails with it; got %v", err)
		}
	}
	if _, err := w.StreamCreate(0); !IsDeviceFault(err) {
		t.Fatalf("stream create: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("onFault called %d times, want once", len(got))
	}
	var api *APIError
	if !errors.As(got[0], &api) || api.Code != 700 || api.Name != "cudaErrorIllegalAddress" || api.Op != "cudaFree" {
		t.Fatalf("fault %v", got[0])
	}
	if w.Fault() != got[0] {
		t.Fatalf("Fault() = %v", w.Fault())
	}
	// Device queries need no context and still answer, as CUDA's do.
	if n, err := w.DeviceCount(); err != nil || n != 1 {
		t.Fatalf("device count after a fault: %d %v", n, err)
	}
}

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
	if err := OnDevice(m, 1, func() error {
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

// Under --gpu 1 the pinned pool must create no context on GPU 0, whichever
// goroutine allocates and releases.
func TestPoolTouchesOnlyItsDevice(t *testing.T) {
	m := &Mock{Devices: 2}
	defer m.Close()
	pool := NewPool(m, PoolOptions{Device: 1})
	var blocks []*Block
	for _, n := range []int{100, 5000, 20 << 20} {
		b, err := pool.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	blocks[0].Release()
	pool.Trim()
	if _, err := pool.Get(100); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err == nil {
		t.Fatal("closing with blocks out must say so")
	}
	for _, b := range blocks[1:] {
		if err := b.Release(); err != nil { // freed at once: the pool is closed
			t.Fatal(err)
		}
	}
	if c := m.Contexts(); !reflect.DeepEqual(c, []int{1}) {
		t.Fatalf("contexts on devices %v, want only [1]", c)
	}
}
