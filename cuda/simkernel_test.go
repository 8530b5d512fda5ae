package cuda

import (
	"errors"
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
		{"env", func() (*SimKernel, error) {
			t.Setenv("TRTSERVE_SIMKERNEL_LIB", missing)
			return LoadSimKernel("")
		}, []string{missing}},
		{"not a simkernel", func() (*SimKernel, error) { return LoadSimKernel("/lib/x86_64-linux-gnu/libc.so.6") },
			[]string{"undefined symbol simkernel_launch"}},
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
	t.Setenv("TRTSERVE_SIMKERNEL_LIB", "")
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
