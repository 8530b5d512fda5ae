//go:build cudamock

package app

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

// Under TRTSERVE_CUDA_MOCK a CUDA region registered from a file handle
// (what another process's client sends) reads and writes that file.
func TestSharedMemoryCUDAFileHandleOnMock(t *testing.T) {
	name := fmt.Sprintf("trtserve-test-%d", os.Getpid())
	path := filepath.Join("/dev/shm", name)
	if err := os.WriteFile(path, []byte("input bytes....."), 0o600); err != nil {
		t.Skipf("no /dev/shm here: %v", err)
	}
	defer os.Remove(path)
	reg, closeReg := OpenSharedMemory(&config.Config{CUDAMock: true, CUDAMockDevices: 1}, nil, nil)
	defer closeReg()
	h, err := cudamock.FileHandle(name, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterCUDA("in", h[:], 0, 16); err != nil {
		t.Fatal(err)
	}
	l, err := reg.Acquire("in", 0, 11)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 11)
	if err := l.Read(got); err != nil || string(got) != "input bytes" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if err := l.Write([]byte("OUT")); err != nil {
		t.Fatal(err)
	}
	l.Release()
	if b, _ := os.ReadFile(path); string(b) != "OUTut bytes....." {
		t.Fatalf("the client's file after Write: %q", b)
	}
	if err := reg.RegisterCUDA("big", h[:], 0, 17); err == nil {
		t.Fatal("a region past the file handle's size registered")
	}
}
