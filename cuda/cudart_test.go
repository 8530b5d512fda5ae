package cuda

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// openCudart opens libcudart with Open's own search. Without the library
// the test skips — unless TRTSERVE_REQUIRE_CUDART=1 (CI, which installs
// Debian's libcudart), where a missing library must fail loudly instead of
// turning every test here into a silent skip.
func openCudart(t testing.TB) Runtime {
	t.Helper()
	rt, err := Open("")
	if errors.Is(err, ErrNoLibrary) {
		if os.Getenv("TRTSERVE_REQUIRE_CUDART") == "1" {
			t.Fatalf("TRTSERVE_REQUIRE_CUDART=1 but libcudart is not loadable: %v", err)
		}
		t.Skipf("libcudart not installed (set TRTSERVE_REQUIRE_CUDART=1 to fail instead): %v", err)
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return rt
}

func TestCudartOpen(t *testing.T) {
	rt := openCudart(t)
	defer rt.Close()
	if !strings.HasPrefix(rt.Name(), "libcudart ") {
		t.Errorf("Name() = %q, want libcudart <version>", rt.Name())
	}
	rv, dv, err := rt.Version()
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if rv < 11000 {
		t.Errorf("runtime version %d, want >= 11000", rv)
	}
	t.Logf("%s (path %s): runtime %d, driver %d", rt.Name(), rt.(*cudart).lib.path, rv, dv)
}

func TestCudartNoDevice(t *testing.T) {
	rt := openCudart(t)
	defer rt.Close()
	n, err := rt.DeviceCount()
	if err == nil && n > 0 {
		t.Skipf("%d GPU(s) present: the no-device path cannot be observed here (gpu_test.go runs instead)", n)
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("DeviceCount() = %d, %v; want an error wrapping ErrNoDevice", n, err)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("DeviceCount error %T is not an *APIError", err)
	}
	if !strings.HasPrefix(ae.Name, "cudaError") || ae.Text == "" || ae.Op != "cudaGetDeviceCount" {
		t.Errorf("APIError lacks CUDA's own name/text: %+v", ae)
	}
	if !strings.Contains(err.Error(), ae.Text) || !strings.Contains(err.Error(), ae.Name) {
		t.Errorf("error text %q does not carry CUDA's %q / %q", err, ae.Name, ae.Text)
	}
	t.Logf("DeviceCount: %v", err)

	// CUDA's initialization error is sticky: allocations say the same.
	if _, err := rt.Malloc(1 << 20); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Malloc without a device: %v, want ErrNoDevice", err)
	}

	irt, infos, err := Init("")
	if !errors.Is(err, ErrNoDevice) || irt != nil || infos != nil {
		t.Fatalf("Init() = %v, %v, %v; want nil, nil, ErrNoDevice", irt, infos, err)
	}
	if !strings.Contains(err.Error(), ae.Text) {
		t.Errorf("Init error %q lacks CUDA's text %q", err, ae.Text)
	}
}

// TestCudartErrorKinds checks the code → sentinel mapping with CUDA's own
// names, which needs no device.
func TestCudartErrorKinds(t *testing.T) {
	rt := openCudart(t)
	defer rt.Close()
	lib := rt.(*cudart).lib
	for _, tc := range []struct {
		code int
		name string
		kind error
	}{
		{100, "cudaErrorNoDevice", ErrNoDevice},
		{35, "cudaErrorInsufficientDriver", ErrNoDevice},
		{3, "cudaErrorInitializationError", ErrNoDevice},
		{34, "cudaErrorStubLibrary", ErrNoDevice},
		{2, "cudaErrorMemoryAllocation", ErrCUDA},
		{1, "cudaErrorInvalidValue", ErrCUDA},
		{999, "cudaErrorUnknown", ErrCUDA},
	} {
		err := lib.apiError("cudaTest", tc.code)
		if !errors.Is(err, tc.kind) {
			t.Errorf("code %d: %v does not wrap %v", tc.code, err, tc.kind)
		}
		if err.Name != tc.name || err.Text == "" {
			t.Errorf("code %d: name %q text %q, want %q and CUDA's text", tc.code, err.Name, err.Text, tc.name)
		}
	}
}

func TestCudartRefcount(t *testing.T) {
	r1 := openCudart(t)
	lib := r1.(*cudart).lib
	handle := lib.dl.Handle()
	// Other tests in this process (gpu_test.go) may hold references of
	// their own.
	libsMu.Lock()
	base := lib.refs - 1
	libsMu.Unlock()
	// The same file under the name Open found it by, and again by search:
	// both must share the first dlopen handle.
	r2, err := Open(lib.path)
	if err != nil {
		t.Fatalf("second Open(%q): %v", lib.path, err)
	}
	r3 := openCudart(t)
	if r2.(*cudart).lib != lib || r3.(*cudart).lib != lib {
		t.Fatalf("second and third Open did not share the library")
	}
	libsMu.Lock()
	refs := lib.refs
	libsMu.Unlock()
	if refs != base+3 {
		t.Fatalf("refs = %d after three opens, want %d", refs, base+3)
	}

	if err := r1.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if _, _, err := r2.Version(); err != nil {
		t.Fatalf("r2 after r1.Close: %v", err)
	}
	if err := r3.Close(); err != nil {
		t.Fatalf("r3.Close: %v", err)
	}
	if err := r2.Close(); err != nil {
		t.Fatalf("last Close: %v", err)
	}
	libsMu.Lock()
	_, still := libs[handle]
	refs = lib.refs
	libsMu.Unlock()
	if base == 0 && (still || lib.fns.GetDeviceCount != nil || lib.dl.Handle() != 0) {
		t.Fatalf("library not unloaded after the last Close (still in map: %v)", still)
	}
	if refs != base {
		t.Fatalf("refs = %d after closing all three, want %d", refs, base)
	}
	for i, r := range []Runtime{r1, r2, r3} {
		if err := r.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("r%d: Close after Close = %v, want ErrClosed", i+1, err)
		}
	}

	// Every call on a closed Runtime is ErrClosed, not a crash into an
	// unloaded library.
	calls := map[string]func() error{
		"DeviceCount":         func() error { _, err := r2.DeviceCount(); return err },
		"DeviceInfo":          func() error { _, err := r2.DeviceInfo(0); return err },
		"SetDevice":           func() error { return r2.SetDevice(0) },
		"MemGetInfo":          func() error { _, _, err := r2.MemGetInfo(); return err },
		"Version":             func() error { _, _, err := r2.Version(); return err },
		"HostAlloc":           func() error { _, err := r2.HostAlloc(64, HostAllocPortable); return err },
		"FreeHost":            func() error { return r2.FreeHost(nil) },
		"Malloc":              func() error { _, err := r2.Malloc(64); return err },
		"Free":                func() error { return r2.Free(0) },
		"StreamCreate":        func() error { _, err := r2.StreamCreate(0); return err },
		"StreamPriorityRange": func() error { _, _, err := r2.StreamPriorityRange(); return err },
		"StreamDestroy":       func() error { return r2.StreamDestroy(1) },
		"StreamSynchronize":   func() error { return r2.StreamSynchronize(0) },
		"StreamWaitEvent":     func() error { return r2.StreamWaitEvent(0, 1) },
		"EventCreate":         func() error { _, err := r2.EventCreate(EventDefault); return err },
		"EventRecord":         func() error { return r2.EventRecord(1, 0) },
		"EventSynchronize":    func() error { return r2.EventSynchronize(1) },
		"EventQuery":          func() error { _, err := r2.EventQuery(1); return err },
		"EventElapsed":        func() error { _, err := r2.EventElapsed(1, 2); return err },
		"EventDestroy":        func() error { return r2.EventDestroy(1) },
		"MemcpyHtoDAsync":     func() error { var b [8]byte; return r2.MemcpyHtoDAsync(1, unsafe.Pointer(&b[0]), 8, 0) },
		"MemcpyDtoHAsync":     func() error { var b [8]byte; return r2.MemcpyDtoHAsync(unsafe.Pointer(&b[0]), 1, 8, 0) },
		"MemcpyDtoDAsync":     func() error { return r2.MemcpyDtoDAsync(1, 2, 8, 0) },
		"MemsetAsync":         func() error { return r2.MemsetAsync(1, 0, 8, 0) },
		"MemcpyHtoD":          func() error { return r2.MemcpyHtoD(1, make([]byte, 8)) },
		"MemcpyDtoH":          func() error { return r2.MemcpyDtoH(make([]byte, 8), 1) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}

	// The library loads again after a full unload.
	r4 := openCudart(t)
	if _, _, err := r4.Version(); err != nil {
		t.Errorf("Version after reload: %v", err)
	}
	r4.Close()
}

// TestCudartConcurrent is for -race: opens, calls and closes from many
// goroutines at once, the way several models' instances start together.
func TestCudartConcurrent(t *testing.T) {
	openCudart(t).Close()
	libsMu.Lock()
	loaded := len(libs)
	libsMu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				rt, err := Open("")
				if err != nil {
					t.Error(err)
					return
				}
				rt.DeviceCount()
				rt.Version()
				if err := rt.Close(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	libsMu.Lock()
	defer libsMu.Unlock()
	if len(libs) != loaded {
		t.Errorf("%d libraries loaded after every Close, %d before", len(libs), loaded)
	}
}

// TestCudartMissing needs no CUDA at all: a bad path and a library without
// CUDA's symbols give ErrNoLibrary with a reason a user can act on.
func TestCudartMissing(t *testing.T) {
	for _, tc := range []struct {
		path, want string
	}{
		{"/nonexistent/libcudart.so.12", "/nonexistent/libcudart.so.12"},
		{"libc.so.6", "undefined symbol: cudaGetDeviceCount"},
	} {
		rt, err := Open(tc.path)
		if !errors.Is(err, ErrNoLibrary) || rt != nil {
			t.Errorf("Open(%q) = %v, %v; want ErrNoLibrary", tc.path, rt, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) error %q lacks %q", tc.path, err, tc.want)
		}
	}

	if rt, infos, err := Init("/nonexistent/from-config.so"); !errors.Is(err, ErrNoLibrary) || rt != nil || infos != nil {
		t.Errorf("Init with a bad path = %v, %v, %v; want ErrNoLibrary", rt, infos, err)
	}
}

// The environment is config's to read: TRTSERVE_CUDART_LIB does not steer
// Open("") (the server passes --cudart-lib, which config fills from it).
func TestCudartIgnoresEnvironment(t *testing.T) {
	t.Setenv("TRTSERVE_CUDART_LIB", "/nonexistent/from-env.so")
	rt, err := Open("")
	if err == nil {
		rt.Close()
		return // the search found a libcudart: the variable was not used
	}
	if strings.Contains(err.Error(), "from-env.so") {
		t.Errorf("Open(\"\") tried TRTSERVE_CUDART_LIB: %v", err)
	}
}
