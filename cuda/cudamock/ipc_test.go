package cudamock

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/cuda"
)

// cuda.OpenIPC over the mock: a handle the mock exported opens, copies stay
// inside the size asked, a size past the allocation is refused, and every
// open is closed.
func TestIPCOverMock(t *testing.T) {
	m := New(2)
	defer m.Close()
	d, err := m.Malloc(4096)
	if err != nil {
		t.Fatal(err)
	}
	pat := make([]byte, 4096)
	for i := range pat {
		pat[i] = byte(i * 13)
	}
	if err := m.MemcpyHtoD(d, pat); err != nil {
		t.Fatal(err)
	}
	h, err := m.IpcGetMemHandle(d + 100) // inside: names the allocation
	if err != nil {
		t.Fatal(err)
	}

	// Refused: past the allocation, a foreign handle, another mock's.
	if _, err := cuda.OpenIPC(m, 1, h, 4097); !errors.Is(err, cuda.ErrIPCBounds) {
		t.Fatalf("OpenIPC past the allocation = %v", err)
	}
	var junk cuda.IPCHandle
	junk[0] = 1
	if _, err := cuda.OpenIPC(m, 0, junk, 1); err == nil || !strings.Contains(err.Error(), "invalid resource handle") {
		t.Fatalf("OpenIPC of a handle nobody exported = %v", err)
	}
	other := New(1)
	defer other.Close()
	if _, err := cuda.OpenIPC(other, 0, h, 1); err == nil || !strings.Contains(err.Error(), "another mock") {
		t.Fatalf("OpenIPC on another mock = %v", err)
	}
	if _, err := cuda.OpenIPC(m, 5, h, 1); err == nil {
		t.Fatal("OpenIPC on a device the mock lacks succeeded")
	}
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d handles left open by refused opens", n)
	}

	mp, err := cuda.OpenIPC(m, 1, h, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if mp.Ptr() != d || mp.Size() != 1000 || m.IPCOpen() != 1 {
		t.Fatalf("mapping at %#x size %d (%d open); want %#x 1000", mp.Ptr(), mp.Size(), m.IPCOpen(), d)
	}
	got := make([]byte, 100)
	if err := mp.CopyToHost(got, 900); err != nil || !bytes.Equal(got, pat[900:1000]) {
		t.Fatalf("CopyToHost = %v", err)
	}
	if err := mp.CopyToHost(got, 901); !errors.Is(err, cuda.ErrIPCBounds) {
		t.Fatalf("CopyToHost past the size asked = %v", err)
	}
	if err := mp.CopyToHost(got, ^uint64(0)-10); !errors.Is(err, cuda.ErrIPCBounds) {
		t.Fatalf("CopyToHost at an overflowing offset = %v", err)
	}
	if err := mp.CopyFromHost([]byte("hello"), 10); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 5)
	if err := m.MemcpyDtoH(back, d+10); err != nil || string(back) != "hello" {
		t.Fatalf("device memory after CopyFromHost: %q, %v", back, err)
	}
	if c := m.Contexts(); len(c) != 2 || c[1] != 1 {
		t.Fatalf("contexts %v: the mapping's calls must run on its device (1)", c)
	}
	if err := mp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mp.Close(); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if err := mp.CopyToHost(got, 0); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("CopyToHost after Close = %v", err)
	}
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d handles open after Close", n)
	}
	if err := m.IpcCloseMemHandle(d); err == nil {
		t.Fatal("closing a handle twice succeeded")
	}

	// Freed memory: the handle no longer opens.
	if err := m.Free(d); err != nil {
		t.Fatal(err)
	}
	if _, err := m.IpcOpenMemHandle(h); err == nil || !strings.Contains(err.Error(), "freed") {
		t.Fatalf("opening a freed allocation's handle = %v", err)
	}
	// Through cuda.Watch too (the server's runtimes are watched).
	w := cuda.Watch(m, nil)
	if _, err := cuda.IPCOf(w); err != nil {
		t.Fatal(err)
	}
	if _, err := w.IpcGetMemHandle(1); err == nil {
		t.Fatal("exporting a non-device address succeeded")
	}
}
