package app

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/shm"
)

// CUDA shared memory on the CUDA mock, through the adapter the server
// uses: register a handle the "client" exported, copy both ways through a
// lease, refuse sizes past the allocation and devices the machine lacks,
// close every IPC mapping by the end.
func TestSharedMemoryCUDAOnMock(t *testing.T) {
	m := cudamock.New(2)
	defer m.Close()
	reg, closeReg := OpenSharedMemory(&config.Config{}, &Backends{Runtime: cuda.Watch(m, nil)}, nil)
	d, err := m.Malloc(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MemcpyHtoD(d, []byte("client input")); err != nil {
		t.Fatal(err)
	}
	h, err := m.IpcGetMemHandle(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what   string
		handle []byte
		dev    int
		size   uint64
		want   error
		msg    string
	}{
		{"past the allocation", h[:], 0, 1<<16 + 1, shm.ErrBounds, "byte_size 65537"},
		{"no such device", h[:], 2, 16, shm.ErrInvalid, "device_id 2: this machine has 2 GPU(s)"},
		{"unknown handle", make([]byte, 64), 0, 16, shm.ErrInvalid, "invalid resource handle"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := reg.RegisterCUDA("bad", tc.handle, tc.dev, tc.size)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "failed to register CUDA shared memory region 'bad'") {
				t.Fatalf("RegisterCUDA = %v; want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d IPC handles open after refused registrations", n)
	}
	if err := reg.RegisterCUDA("in", h[:], 1, 1<<16); err != nil {
		t.Fatal(err)
	}
	l, err := reg.Acquire("in", 0, 12)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 12)
	if err := l.Read(got); err != nil || string(got) != "client input" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	out, err := reg.Acquire("in", 100, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Write([]byte("result")); err != nil {
		t.Fatal(err)
	}
	out.Release()
	back := make([]byte, 6)
	if err := m.MemcpyDtoH(back, d+100); err != nil || string(back) != "result" {
		t.Fatalf("client reads %q, %v", back, err)
	}
	if err := closeReg(); err != nil {
		t.Fatal(err)
	}
	if n := m.IPCOpen(); n != 1 {
		t.Fatalf("%d IPC handles open with one lease outstanding after Close, want 1", n)
	}
	l.Release()
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d IPC handles open after the last lease", n)
	}
}

// Without a GPU, CUDA regions are refused saying so; system regions work.
func TestSharedMemoryWithoutGPU(t *testing.T) {
	for _, cfg := range []*config.Config{
		{CUDALib: filepath.Join(t.TempDir(), "libcudart.so.404")},
		{CUDALib: "libcudart.so.11.0"}, // Debian's runtime where installed: no driver here
	} {
		reg, closeReg := OpenSharedMemory(cfg, nil, nil)
		for range 2 { // the second answer comes from the cached reason
			err := reg.RegisterCUDA("c", make([]byte, 64), 0, 16)
			if !errors.Is(err, shm.ErrNoCUDA) || !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), "CUDA shared memory needs a GPU: ") {
				t.Fatalf("RegisterCUDA without a GPU (%s) = %v", cfg.CUDALib, err)
			}
		}
		if err := closeReg(); err != nil {
			t.Fatal(err)
		}
	}
}
