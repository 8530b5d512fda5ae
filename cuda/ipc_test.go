package cuda

import (
	"errors"
	"testing"
)

// libcudart's IPC entry points resolve (whichever runtime is installed);
// without a GPU the calls fail as the runtime says, never as a missing
// symbol, and OpenIPC closes nothing it did not open.
func TestIPCOverLibcudart(t *testing.T) {
	rt := openCudart(t)
	defer rt.Close()
	i, err := IPCOf(rt)
	if err != nil {
		t.Fatal(err)
	}
	var h IPCHandle
	if _, err := i.IpcOpenMemHandle(h); err == nil || errors.Is(err, ErrNoLibrary) {
		t.Fatalf("IpcOpenMemHandle of a zero handle = %v; want the runtime's error", err)
	}
	if _, err := i.IpcGetMemHandle(0); err == nil || errors.Is(err, ErrNoLibrary) {
		t.Fatalf("IpcGetMemHandle(0) = %v; want the runtime's error", err)
	}
	if _, err := OpenIPC(rt, 0, h, 1); err == nil {
		t.Fatal("OpenIPC of a zero handle succeeded")
	}
	if _, err := OpenIPC(rt, 0, h, 0); err == nil {
		t.Fatal("OpenIPC of 0 bytes succeeded")
	}
	rt.Close()
	if _, err := i.IpcOpenMemHandle(h); !errors.Is(err, ErrClosed) {
		t.Fatalf("IpcOpenMemHandle after Close = %v", err)
	}
}
