package cuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSimKernelMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), SimKernelLib)
	for _, tc := range []struct {
		name string
		load func() (*SimKernel, error)
		want []string
	}{
		{"explicit path", func() (*SimKernel, error) { return LoadSimKernel(missing) },
			[]string{missing, "make simkernel"}},
		{"not a simkernel", func() (*SimKernel, error) { return LoadSimKernel("/lib/x86_64-linux-gnu/libc.so.6") },
			[]string{"undefined symbol: simkernel_launch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.load()
			if k != nil || !errors.Is(err, ErrNoLibrary) {
				if k != nil {
					k.Close()
				}
				t.Fatalf("got %v, %v; want ErrNoLibrary", k, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSimKernelSearch(t *testing.T) {
	// The environment is config's to read (TRTSERVE_SIMKERNEL_LIB becomes
	// the path the server passes): the search does not look at it.
	t.Setenv("TRTSERVE_SIMKERNEL_LIB", "/nonexistent/from-env.so")
	c := simKernelCandidates()
	var inBuild bool
	for _, p := range c {
		if !filepath.IsAbs(p) {
			t.Errorf("candidate %q is not absolute", p)
		}
		// The repo root's build/ is one of them when testing ./cuda/.
		if filepath.Base(filepath.Dir(p)) == "build" && filepath.Base(filepath.Dir(filepath.Dir(p))) != "cuda" {
			inBuild = true
		}
		if strings.Contains(p, "from-env") {
			t.Errorf("candidate %q comes from the environment", p)
		}
	}
	if !inBuild {
		t.Errorf("no build/ above the package among %q", c)
	}
}

// TestSimKernelNoDevice runs where the library has been built but there is
// no GPU: loading works, launching says why not.
func TestSimKernelNoDevice(t *testing.T) {
	k, err := LoadSimKernel("")
	if err != nil {
		t.Skipf("simulated kernel not built: %v", err)
	}
	defer k.Close()
	if _, _, err := Init(""); err == nil {
		t.Skip("a GPU is present; gpu_test.go launches the kernel")
	}
	err = k.Launch(0, 0, 16, 0, 16, time.Millisecond, 1)
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "simkernel_launch") {
		t.Errorf("Launch without a GPU = %v; want ErrNoDevice from simkernel_launch", err)
	}
	t.Logf("Launch: %v", err)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Launch(0, 0, 0, 0, 0, 0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Launch after Close = %v, want ErrClosed", err)
	}
	if err := k.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// A stand-in library with the two entry points checks the loader and the
// trampolines everywhere, also where the real kernel (which needs nvcc) is
// not built: arguments reach C unchanged, a failure comes back as an
// *APIError with the library's own text.
func TestSimKernelStub(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "stub.c"), filepath.Join(dir, SimKernelLib)
	const code = `#include <stddef.h>
int simkernel_launch(void *s, const void *in, size_t inb, void *out, size_t outb, long long busy, int batch) {
	if (s != (void *)1 || in != (const void *)2 || inb != 3 || out != (void *)4 || outb != 5 || busy != 6000) return 1;
	return batch == 1 ? 0 : 100 + batch;
}
const char *simkernel_error_string(int e) { return e == 102 ? "stub: two is too many" : "stub: unknown"; }
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	k, err := LoadSimKernel(lib)
	if err != nil {
		t.Fatal(err)
	}
	if k.Path() != lib {
		t.Errorf("Path() = %q, want %q", k.Path(), lib)
	}
	for _, tc := range []struct {
		batch int
		code  int
		text  string
	}{
		{1, 0, ""},
		{2, 102, "stub: two is too many"},
		{3, 103, "stub: unknown"},
	} {
		err := k.Launch(1, 2, 3, 4, 5, 6*time.Microsecond, tc.batch)
		var api *APIError
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("batch %d: %v", tc.batch, err)
		case tc.code != 0 && (!errors.As(err, &api) || api.Code != tc.code || api.Text != tc.text || api.Op != "simkernel_launch" || !errors.Is(err, ErrCUDA)):
			t.Errorf("batch %d: %v, want code %d %q", tc.batch, err, tc.code, tc.text)
		}
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Launch(1, 2, 3, 4, 5, 0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Launch after Close = %v, want ErrClosed", err)
	}
}
