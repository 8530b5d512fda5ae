// Package trttest builds csrc/fake's CPU fake of the TensorRT shim for
// tests, so any package's tests can run the real trt binding and the
// TensorRT backend without TensorRT. It needs a C compiler, which cgo
// needs anyway.
package trttest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trtserve/trtserve/engines"
)

var (
	once sync.Once
	path string
	err  error
)

// Root is the repository root (the directory holding go.mod).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// FakeLib compiles the fake shim (once per process, cached by source hash
// under build/fake/) and returns its path. A build failure fails the test:
// the fake is part of this repository, so it must compile.
func FakeLib(t testing.TB) string {
	t.Helper()
	once.Do(func() { path, err = build() })
	if err != nil {
		t.Fatalf("building the fake TensorRT shim: %v", err)
	}
	return path
}

func build() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, "csrc", "fake", "trtshim_fake.c")
	hdr := filepath.Join(root, "csrc", "include", "trtshim.h")
	h := sha256.New()
	for _, f := range []string{src, hdr} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	dir := filepath.Join(root, "build", "fake")
	out := filepath.Join(dir, "libtrtshim_fake-"+hex.EncodeToString(h.Sum(nil))[:12]+".so")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command(cc, "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
		"-I"+filepath.Join(root, "csrc", "include"), src, "-o", tmp, "-lpthread")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", cmd, err, b)
	}
	return out, os.Rename(tmp, out) // atomic: test binaries build it concurrently
}

// FakeLibCopy is a private copy of the fake shim in a test's temporary
// directory. The shim's trtshim_init state is process-wide per loaded
// library, so a test that opens it with other OpenOptions (a lean
// "runtime", host code refused) needs a file of its own: dlopen loads a
// second path as a second library.
func FakeLibCopy(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(FakeLib(t))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "libtrtshim_fake.so")
	if err := os.WriteFile(out, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// Floats is n float32s of memory outside the Go heap (the engines
// package's mmap allocator), freed when the test ends: the shim keeps
// tensor addresses between calls, which Go memory must never be used for.
func Floats(t testing.TB, n int) []float32 {
	t.Helper()
	buf, err := engines.MmapAllocator{}.Alloc(max(n, 1) * 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { buf.Close() })
	return buf.Float32s()[:n]
}
