package cuda

// CUDA IPC: device memory one process exports (cudaIpcGetMemHandle) and
// another opens (cudaIpcOpenMemHandle) — what Triton's CUDA shared-memory
// extension is built on (package shm, through internal/app).

// #include "cudart_shim.h"
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/trtserve/trtserve/internal/dl"
)

// IPCHandleSize is sizeof(cudaIpcMemHandle_t).
const IPCHandleSize = 64

// IPCHandle is a cudaIpcMemHandle_t: 64 opaque bytes naming device memory
// another process exported.
type IPCHandle [IPCHandleSize]byte

// IPC is the part of a runtime that shares device memory between
// processes. libcudart's Runtime (Open), Watched and cudamock.Mock
// implement it; IPCOf finds it.
type IPC interface {
	// IpcGetMemHandle exports the allocation holding p.
	IpcGetMemHandle(p DevicePtr) (IPCHandle, error)
	// IpcOpenMemHandle maps an exported allocation into this process, on
	// the calling thread's current device, and returns its base.
	IpcOpenMemHandle(h IPCHandle) (DevicePtr, error)
	// IpcCloseMemHandle unmaps what IpcOpenMemHandle returned.
	IpcCloseMemHandle(p DevicePtr) error
	// MemGetAddressRange is the allocation holding p: its base and size
	// (the driver's cuMemGetAddressRange; needs the device's context
	// current on the calling thread).
	MemGetAddressRange(p DevicePtr) (base DevicePtr, size uint64, err error)
}

// IPCOf is rt's IPC, or an error saying that rt cannot share memory
// between processes.
func IPCOf(rt Runtime) (IPC, error) {
	if i, ok := rt.(IPC); ok {
		return i, nil
	}
	return nil, fmt.Errorf("%w: %s cannot open CUDA IPC handles", ErrCUDA, rt.Name())
}

// ipcTable is one library's IPC entry points, resolved on first use.
type ipcTable struct {
	once sync.Once
	fns  C.cudart_ipc_fns // C function pointers only (see cudartLib.fns)
	err  error
}

var ipcTables sync.Map // *cudartLib -> *ipcTable; a library's entry outlives it (a few bytes)

func (l *cudartLib) ipc() (*C.cudart_ipc_fns, error) {
	v, _ := ipcTables.LoadOrStore(l, &ipcTable{})
	t := v.(*ipcTable)
	t.once.Do(func() {
		for _, s := range []struct {
			dst  **[0]byte
			name string
		}{
			{&t.fns.IpcGetMemHandle, "cudaIpcGetMemHandle"},
			{&t.fns.IpcOpenMemHandle, "cudaIpcOpenMemHandle"},
			{&t.fns.IpcCloseMemHandle, "cudaIpcCloseMemHandle"},
		} {
			p, err := l.dl.Lookup(s.name)
			if err != nil {
				t.err = fmt.Errorf("%w: %s has no CUDA IPC: %v", ErrNoLibrary, l.name, err)
				return
			}
			*s.dst = (*[0]byte)(p)
		}
	})
	return &t.fns, t.err
}

func (r *cudart) IpcGetMemHandle(p DevicePtr) (IPCHandle, error) {
	var h IPCHandle
	l, err := r.acquire()
	if err != nil {
		return h, err
	}
	defer r.release()
	f, err := l.ipc()
	if err != nil {
		return h, err
	}
	// C writes the handle into h during the call only (h holds no Go
	// pointers, so cgo allows it).
	if err := l.check("cudaIpcGetMemHandle", C.cudart_ipc_get(f, unsafe.Pointer(&h[0]), C.uintptr_t(p))); err != nil {
		return IPCHandle{}, err
	}
	return h, nil
}

func (r *cudart) IpcOpenMemHandle(h IPCHandle) (DevicePtr, error) {
	l, err := r.acquire()
	if err != nil {
		return 0, err
	}
	defer r.release()
	f, err := l.ipc()
	if err != nil {
		return 0, err
	}
	var p C.uintptr_t
	if err := l.check("cudaIpcOpenMemHandle", C.cudart_ipc_open(f, &p, unsafe.Pointer(&h[0]))); err != nil {
		return 0, err
	}
	return DevicePtr(p), nil
}

func (r *cudart) IpcCloseMemHandle(p DevicePtr) error {
	l, err := r.acquire()
	if err != nil {
		return err
	}
	defer r.release()
	f, err := l.ipc()
	if err != nil {
		return err
	}
	return l.check("cudaIpcCloseMemHandle", C.cudart_ipc_close(f, C.uintptr_t(p)))
}

// driver is libcuda.so.1, opened once for cuMemGetAddressRange_v2 and
// never closed: libcudart has it loaded already whenever a GPU is in use.
var driver struct {
	once sync.Once
	lib  *dl.Library
	fns  C.cuda_drv_fns
	err  error
}

func (r *cudart) MemGetAddressRange(p DevicePtr) (DevicePtr, uint64, error) {
	if _, err := r.acquire(); err != nil {
		return 0, 0, err
	}
	defer r.release()
	driver.once.Do(func() {
		lib, err := dl.Open("libcuda.so.1", dl.Now|dl.Local)
		if err != nil {
			driver.err = fmt.Errorf("%w: the CUDA driver (libcuda.so.1), needed to size CUDA IPC memory: %v", ErrNoLibrary, err)
			return
		}
		fn, err := lib.Lookup("cuMemGetAddressRange_v2")
		if err != nil {
			lib.Close()
			driver.err = fmt.Errorf("%w: libcuda.so.1: %v", ErrNoLibrary, err)
			return
		}
		driver.lib = lib
		driver.fns.MemGetAddressRange = (*[0]byte)(fn)
	})
	if driver.err != nil {
		return 0, 0, driver.err
	}
	var base C.uintptr_t
	var size C.size_t
	if code := C.cuda_drv_address_range(&driver.fns, C.uintptr_t(p), &base, &size); code != 0 {
		// CUresult, not cudaError_t: 1 invalid value, 201 invalid context.
		return 0, 0, fmt.Errorf("%w: cuMemGetAddressRange: CUresult %d for %#x", ErrCUDA, int(code), uintptr(p))
	}
	return DevicePtr(base), uint64(size), nil
}

// The IPC calls of a watched runtime, watched.

func (w *Watched) IpcGetMemHandle(p DevicePtr) (IPCHandle, error) {
	i, err := IPCOf(w.rt)
	if err != nil {
		return IPCHandle{}, err
	}
	h, err := i.IpcGetMemHandle(p)
	return h, w.see(err)
}

func (w *Watched) IpcOpenMemHandle(h IPCHandle) (DevicePtr, error) {
	i, err := IPCOf(w.rt)
	if err != nil {
		return 0, err
	}
	p, err := i.IpcOpenMemHandle(h)
	return p, w.see(err)
}

func (w *Watched) IpcCloseMemHandle(p DevicePtr) error {
	i, err := IPCOf(w.rt)
	if err != nil {
		return err
	}
	return w.see(i.IpcCloseMemHandle(p))
}

func (w *Watched) MemGetAddressRange(p DevicePtr) (DevicePtr, uint64, error) {
	i, err := IPCOf(w.rt)
	if err != nil {
		return 0, 0, err
	}
	b, n, err := i.MemGetAddressRange(p)
	return b, n, w.see(err)
}

var (
	_ IPC = (*cudart)(nil)
	_ IPC = (*Watched)(nil)
)

// IPCMapping is device memory another process exported, opened on one of
// this process's devices: what a CUDA shared-memory region is. Every call
// runs on a thread with that device current (OnDevice). Copies are
// synchronous cudaMemcpy calls from and to Go memory (see MemcpyHtoD).
type IPCMapping struct {
	rt     Runtime
	ipc    IPC
	device int
	ptr    DevicePtr
	size   uint64

	mu     sync.RWMutex // guards closed; copies hold it for reading
	closed bool
}

// OpenIPC opens h on device and checks that size bytes from the address it
// names lie inside the exported allocation, so no later copy can reach
// past what the exporter shared. A size past it is refused, and the
// handle closed again.
func OpenIPC(rt Runtime, device int, h IPCHandle, size uint64) (*IPCMapping, error) {
	i, err := IPCOf(rt)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, fmt.Errorf("%w: CUDA IPC region of 0 bytes", ErrCUDA)
	}
	m := &IPCMapping{rt: rt, ipc: i, device: device, size: size}
	err = OnDevice(rt, device, func() error {
		p, err := i.IpcOpenMemHandle(h)
		if err != nil {
			return err
		}
		base, n, err := i.MemGetAddressRange(p)
		if err == nil && (p < base || uint64(p-base) > n || size > n-uint64(p-base)) {
			err = fmt.Errorf("%w: %d bytes asked of a CUDA IPC allocation of %d bytes (from %d)", ErrIPCBounds, size, n, uint64(p-base))
		}
		if err != nil {
			i.IpcCloseMemHandle(p)
			return err
		}
		m.ptr = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ErrIPCBounds: a size past the exported allocation (OpenIPC).
var ErrIPCBounds = fmt.Errorf("%w: past the end of the exported allocation", ErrCUDA)

// Ptr is the mapping's device address in this process; Size its length.
func (m *IPCMapping) Ptr() DevicePtr { return m.ptr }
func (m *IPCMapping) Size() uint64   { return m.size }

func (m *IPCMapping) span(n int, off uint64) error {
	if m.closed {
		return fmt.Errorf("%w: CUDA IPC mapping", ErrClosed)
	}
	if off > m.size || uint64(n) > m.size-off {
		return fmt.Errorf("%w: %d bytes at offset %d of a %d-byte CUDA IPC mapping", ErrIPCBounds, n, off, m.size)
	}
	return nil
}

// CopyToHost copies len(dst) bytes at off of the mapping into dst.
func (m *IPCMapping) CopyToHost(dst []byte, off uint64) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.span(len(dst), off); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	return OnDevice(m.rt, m.device, func() error { return m.rt.MemcpyDtoH(dst, m.ptr+DevicePtr(off)) })
}

// CopyFromHost copies src to off of the mapping.
func (m *IPCMapping) CopyFromHost(src []byte, off uint64) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.span(len(src), off); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	return OnDevice(m.rt, m.device, func() error { return m.rt.MemcpyHtoD(m.ptr+DevicePtr(off), src) })
}

// Close unmaps the memory (cudaIpcCloseMemHandle); a second Close returns
// ErrClosed.
func (m *IPCMapping) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("%w: CUDA IPC mapping", ErrClosed)
	}
	m.closed = true
	return OnDevice(m.rt, m.device, func() error { return m.ipc.IpcCloseMemHandle(m.ptr) })
}
