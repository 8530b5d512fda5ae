package cudamock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/cuda"
)

// File handles: another process's "device memory" in a file, opened and
// copied through cuda.OpenIPC as a CUDA shared-memory region is.
func TestFileIPC(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "region"), []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "region"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	f := NewFileIPC(New(1), dir)
	defer f.Close()

	h, err := FileHandle("region", 16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cuda.OpenIPC(f, 0, h, 17); !errors.Is(err, cuda.ErrIPCBounds) {
		t.Fatalf("OpenIPC past the handle's size = %v", err)
	}
	for _, tc := range []struct {
		name string
		size uint64
		msg  string
	}{
		{"missing", 4, "no such file"},
		{"link", 4, "too many levels of symbolic links"},
		{"region", 17, "not a regular file of 17 bytes or more"},
		{"..", 4, "malformed"},
	} {
		bad, err := FileHandle(tc.name, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cuda.OpenIPC(f, 0, bad, 1); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Fatalf("OpenIPC(%s, %d) = %v; want %q", tc.name, tc.size, err, tc.msg)
		}
	}
	if _, err := FileHandle(strings.Repeat("x", 41), 1); err == nil {
		t.Fatal("a 41-byte name fits a handle")
	}
	if n := f.FilesOpen(); len(n) != 0 {
		t.Fatalf("refused opens left %v mapped", n)
	}

	m, err := cuda.OpenIPC(f, 0, h, 16)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if err := m.CopyToHost(got, 10); err != nil || string(got) != "abcdef" {
		t.Fatalf("CopyToHost = %q, %v", got, err)
	}
	if err := m.CopyFromHost([]byte("XY"), 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "region")); string(b) != "XY23456789abcdef" {
		t.Fatalf("the file after CopyFromHost: %q", b)
	}
	// The raw runtime refuses a copy running past the mapping.
	if err := f.MemcpyDtoH(make([]byte, 2), m.Ptr()+15); err == nil {
		t.Fatal("MemcpyDtoH past the file mapping succeeded")
	}
	// The mock's own memory still works beside file handles.
	d, err := f.Malloc(8)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.MemcpyHtoD(d, []byte("mockmem!")); err != nil {
		t.Fatal(err)
	}
	if err := f.MemcpyDtoH(got[:8-2], d); err != nil || string(got) != "mockme" {
		t.Fatalf("mock memory through FileIPC: %q, %v", got, err)
	}
	f.Free(d)
	if n := f.FilesOpen(); len(n) != 1 || n[0] != 16 {
		t.Fatalf("open file handles %v, want [16]", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.FilesOpen(); len(n) != 0 {
		t.Fatalf("open file handles after Close: %v", n)
	}
}
