package cuda

/*
#include <stddef.h>
#include <stdint.h>

// The two entry points of csrc/simkernel/simkernel.h, declared here so the
// package builds without that header or any CUDA header; Go resolves them
// (internal/dl) and calls them through the trampolines below.
typedef struct {
	int (*launch)(void *, const void *, size_t, void *, size_t, long long, int);
	const char *(*error_string)(int);
} simkernel_fns;

static int simkernel_call_launch(simkernel_fns *f, uintptr_t stream, uintptr_t in, size_t in_bytes,
                                 uintptr_t out, size_t out_bytes, long long busy_ns, int batch) {
	return f->launch((void *)stream, (const void *)in, in_bytes, (void *)out, out_bytes, busy_ns, batch);
}

static const char *simkernel_call_error_string(simkernel_fns *f, int code) { return f->error_string(code); }
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trtserve/trtserve/internal/dl"
)

// SimKernelLib is the simulated engine's library file name (built from
// csrc/simkernel by `make simkernel`).
const SimKernelLib = "libtrtserve_simkernel.so"

// SimKernel is a simulated inference engine that runs real kernels on a
// real GPU: each Launch reads its whole input from device memory, keeps the
// stream busy for as long as the caller says and writes the outputs (see
// csrc/simkernel/simkernel.h for what it computes). The pipeline
// benchmarks use it on GPU hosts without TensorRT, labelled simulated.
//
// The library carries its own (static) CUDA runtime; streams and device
// memory from Open's Runtime are valid in it because both runtimes share
// the driver's primary context of the device.
type SimKernel struct {
	// mu guards lib (nil once closed); Launch holds it for reading so
	// Close never unloads the library under a call.
	mu   sync.RWMutex
	lib  *dl.Library
	fns  C.simkernel_fns // C function pointers only: C may be handed &fns
	path string
}

// LoadSimKernel opens the simulated-engine library at path, the file the
// caller was configured with (config's TRTSERVE_SIMKERNEL_LIB); a path
// without a slash goes through the dynamic linker's search, as in Open.
// path "" tries SimKernelLib next to the executable, then in build/ of the
// working directory and of each parent up to the module root (so `go test
// ./cuda/` finds the repo's build/). Failure wraps ErrNoLibrary and lists
// what was tried.
func LoadSimKernel(path string) (*SimKernel, error) {
	tries := []string{path}
	if path == "" {
		tries = simKernelCandidates()
	}
	var reasons []string
	for _, p := range tries {
		k, err := loadSimKernel(p)
		if err == nil {
			return k, nil
		}
		reasons = append(reasons, err.Error())
	}
	return nil, fmt.Errorf("%w: simulated GPU kernel (%s; build it with `make simkernel`, which needs nvcc): %s",
		ErrNoLibrary, SimKernelLib, strings.Join(reasons, "; "))
}

func simKernelCandidates() []string {
	var c []string
	if exe, err := os.Executable(); err == nil {
		c = append(c, filepath.Join(filepath.Dir(exe), SimKernelLib))
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			c = append(c, filepath.Join(dir, "build", SimKernelLib))
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return c
}

func loadSimKernel(path string) (*SimKernel, error) {
	lib, err := dl.Open(path, dl.Now|dl.Local)
	if err != nil {
		return nil, err
	}
	k := &SimKernel{lib: lib, path: path}
	for _, s := range []struct {
		dst  **[0]byte
		name string
	}{
		{&k.fns.launch, "simkernel_launch"},
		{&k.fns.error_string, "simkernel_error_string"},
	} {
		p, err := lib.Lookup(s.name)
		if err != nil {
			lib.Close()
			return nil, err
		}
		*s.dst = (*[0]byte)(p)
	}
	return k, nil
}

// Path is the library file that was loaded.
func (k *SimKernel) Path() string { return k.path }

// Launch enqueues one simulated inference on s and returns without waiting:
// read inBytes at in, stay busy until busy has passed since the kernel
// started (or as long as the read takes), then fill outBytes at out as
// batch equal parts, part p's bytes all (sum of input bytes + p) mod 256.
// in and out are device memory that must stay allocated until the stream
// has passed this launch.
func (k *SimKernel) Launch(s Stream, in DevicePtr, inBytes int, out DevicePtr, outBytes int, busy time.Duration, batch int) error {
	if inBytes < 0 || outBytes < 0 {
		return fmt.Errorf("%w: simkernel_launch: negative size (in %d, out %d)", ErrCUDA, inBytes, outBytes)
	}
	if batch < 1 {
		batch = 1
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.lib == nil {
		return ErrClosed
	}
	code := C.simkernel_call_launch(&k.fns, C.uintptr_t(s), C.uintptr_t(in), C.size_t(inBytes),
		C.uintptr_t(out), C.size_t(outBytes), C.longlong(busy.Nanoseconds()), C.int(batch))
	if code == 0 {
		return nil
	}
	var text string
	if t := C.simkernel_call_error_string(&k.fns, code); t != nil {
		text = C.GoString(t)
	}
	return NewAPIError("simkernel_launch", int(code), "cudaError", text)
}

// Close unloads the library; later Launch and Close calls return
// ErrClosed. Synchronize the streams it launched on first: unloading
// unregisters the library's kernels from CUDA.
func (k *SimKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lib == nil {
		return ErrClosed
	}
	err := k.lib.Close()
	k.lib, k.fns = nil, C.simkernel_fns{}
	return err
}
