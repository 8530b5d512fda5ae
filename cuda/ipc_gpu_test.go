package cuda_test

// The CUDA IPC check of the GPU self-check (scripts/device-check.sh runs
// the bundle's bin/cuda.test -test.run '^TestGPUIPCAcrossProcesses$'): one
// process allocates device memory, writes a pattern and exports an IPC
// handle; a second process (this test binary again, as TestGPUIPCChild)
// opens it through cuda.OpenIPC — what a CUDA shared-memory region of
// package shm does — reads the pattern back, is refused a size past the
// allocation, and writes the pattern's complement into the second half,
// which the first process then reads.
//
// Without a GPU it skips (TRTSERVE_REQUIRE_GPU=1 fails instead). Under
// TRTSERVE_CUDA_MOCK=1 it runs on the CUDA mock, whose handles open only in
// the process that made them: the "second process" is then a goroutine on
// another thread — the check of the code and of the script, not of IPC.
// Environment (as device-check.sh sets it): TRTSERVE_CUDART_LIB, TRTSERVE_GPU.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

const ipcBytes = 8 << 20

func ipcPattern(i int) byte { return byte(i*31 + i>>12) }

// ipcRuntime is the runtime and device the check runs on, or a skip.
func ipcRuntime(t *testing.T) (cuda.Runtime, int, bool) {
	t.Helper()
	dev := 0
	if s := os.Getenv("TRTSERVE_GPU"); s != "" {
		var err error
		if dev, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TRTSERVE_GPU=%q: %v", s, err)
		}
	}
	if os.Getenv("TRTSERVE_CUDA_MOCK") != "" {
		m := cudamock.New(dev + 1)
		t.Cleanup(func() { m.Close() })
		return m, dev, true
	}
	rt, _, err := cuda.Init(os.Getenv("TRTSERVE_CUDART_LIB"))
	if err != nil {
		if os.Getenv("TRTSERVE_REQUIRE_GPU") == "1" {
			t.Fatalf("TRTSERVE_REQUIRE_GPU=1 but: %v", err)
		}
		t.Skipf("no usable GPU: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, dev, false
}

// ipcOpenSide is the second process's part: open, read, check the bound,
// write the second half, close.
func ipcOpenSide(rt cuda.Runtime, dev int, h cuda.IPCHandle, size int) error {
	if _, err := cuda.OpenIPC(rt, dev, h, uint64(size)+1); !errors.Is(err, cuda.ErrIPCBounds) {
		return fmt.Errorf("OpenIPC of %d bytes, one past the exported allocation: %v; want ErrIPCBounds", size+1, err)
	}
	m, err := cuda.OpenIPC(rt, dev, h, uint64(size))
	if err != nil {
		return fmt.Errorf("OpenIPC: %w", err)
	}
	got := make([]byte, size)
	if err := m.CopyToHost(got, 0); err != nil {
		m.Close()
		return fmt.Errorf("CopyToHost: %w", err)
	}
	for i, c := range got {
		if c != ipcPattern(i) {
			m.Close()
			return fmt.Errorf("byte %d read through IPC is %#x, the exporter wrote %#x", i, c, ipcPattern(i))
		}
	}
	half := make([]byte, size/2)
	for i := range half {
		half[i] = ^ipcPattern(size/2 + i)
	}
	if err := m.CopyFromHost(half, uint64(size/2)); err != nil {
		m.Close()
		return fmt.Errorf("CopyFromHost: %w", err)
	}
	return m.Close()
}

func TestGPUIPCAcrossProcesses(t *testing.T) {
	if os.Getenv("TRTSERVE_IPC_CHILD") != "" {
		t.Skip("this process is the second one (TestGPUIPCChild)")
	}
	rt, dev, mock := ipcRuntime(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := rt.SetDevice(dev); err != nil {
		t.Fatal(err)
	}
	ipc, err := cuda.IPCOf(rt)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rt.Malloc(ipcBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Free(d)
	want := make([]byte, ipcBytes)
	for i := range want {
		want[i] = ipcPattern(i)
	}
	if err := rt.MemcpyHtoD(d, want); err != nil {
		t.Fatal(err)
	}
	h, err := ipc.IpcGetMemHandle(d)
	if err != nil {
		t.Fatal(err)
	}
	if mock {
		errc := make(chan error, 1)
		go func() { errc <- ipcOpenSide(rt, dev, h, ipcBytes) }()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestGPUIPCChild$", "-test.v", "-test.count", "1")
		cmd.Env = append(os.Environ(), "TRTSERVE_IPC_CHILD=1", "TRTSERVE_IPC_HANDLE="+hex.EncodeToString(h[:]),
			"TRTSERVE_IPC_BYTES="+strconv.Itoa(ipcBytes), "TRTSERVE_GPU="+strconv.Itoa(dev))
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestGPUIPCChild")) {
			t.Fatalf("the second process failed (%v):\n%s", err, out)
		}
	}
	got := make([]byte, ipcBytes)
	if err := rt.MemcpyDtoH(got, d); err != nil {
		t.Fatal(err)
	}
	for i := range want[ipcBytes/2:] {
		want[ipcBytes/2+i] = ^want[ipcBytes/2+i]
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the exporter does not read back what the second process wrote through IPC")
	}
	how := "two processes"
	if mock {
		how = "CUDA MOCK, one process (mock handles do not cross processes)"
	}
	t.Logf("CUDA IPC: ok: %d MiB exported on device %d, read and written through cuda.OpenIPC, size past the allocation refused (%s, %s)", ipcBytes>>20, dev, rt.Name(), how)
}

// TestGPUIPCChild is the second process of TestGPUIPCAcrossProcesses; it
// skips unless started by it.
func TestGPUIPCChild(t *testing.T) {
	if os.Getenv("TRTSERVE_IPC_CHILD") == "" {
		t.Skip("started only by TestGPUIPCAcrossProcesses")
	}
	raw, err := hex.DecodeString(os.Getenv("TRTSERVE_IPC_HANDLE"))
	if err != nil || len(raw) != cuda.IPCHandleSize {
		t.Fatalf("TRTSERVE_IPC_HANDLE: %d bytes, %v", len(raw), err)
	}
	size, err := strconv.Atoi(os.Getenv("TRTSERVE_IPC_BYTES"))
	if err != nil {
		t.Fatal(err)
	}
	rt, dev, _ := ipcRuntime(t)
	var h cuda.IPCHandle
	copy(h[:], raw)
	if err := ipcOpenSide(rt, dev, h, size); err != nil {
		t.Fatal(err)
	}
}
