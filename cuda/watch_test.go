package cuda_test

import (
	"errors"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

func TestWatchReportsTheFirstStickyErrorOnce(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	var got []error
	w := cuda.Watch(m, func(err error) { got = append(got, err) })
	p, err := w.Malloc(64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Malloc(-1); err == nil || len(got) != 0 {
		t.Fatalf("a plain error (%v) must not count as a fault: %v", err, got)
	}
	m.InjectFault(700)
	for range 3 {
		if err := w.Free(p); !cuda.IsDeviceFault(err) {
			t.Fatalf("after a sticky error every call fails with it; got %v", err)
		}
	}
	if _, err := w.StreamCreate(0); !cuda.IsDeviceFault(err) {
		t.Fatalf("stream create: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("onFault called %d times, want once", len(got))
	}
	var api *cuda.APIError
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
