package cudamock

import (
	"bytes"
	"encoding/binary"
	"os"
	"sync"
	"unsafe"

	"github.com/trtserve/trtserve/cuda"
)

// The mock's CUDA IPC. A handle names one of the mock's own device
// allocations: a magic, the process, the mock, the allocation's base and
// size. Opening it gives back that base (the mock keeps device memory in
// host memory, one address space), counted so every open has its close.
// Unlike CUDA, the mock opens a handle only in the process (and on the
// mock) that exported it — CUDA refuses exactly that case — because its
// "device" memory is private C memory; real cross-process IPC is what the
// GPU self-check tests (cuda's TestGPUIPCAcrossProcesses).

// ipcMagic starts every mock handle; a handle without it is refused as
// CUDA refuses a handle it never issued.
var ipcMagic = [16]byte{'t', 'r', 't', 's', 'e', 'r', 'v', 'e', '-', 'm', 'o', 'c', 'k', 'i', 'p', 'c'}

// ipcOpens counts the open handles of each mock (by allocation base),
// guarded by the mock's own mu.
var ipcOpens sync.Map // *Mock -> map[uintptr]int

func (m *Mock) opens() map[uintptr]int {
	v, _ := ipcOpens.LoadOrStore(m, map[uintptr]int{})
	return v.(map[uintptr]int)
}

func invalidHandle(op, why string) error {
	return cuda.NewAPIError(op, 400, "cudaErrorInvalidResourceHandle", "invalid resource handle (CUDA mock: "+why+")")
}

// allocation is the live device allocation holding p. The lock is held.
func (m *Mock) allocation(p uintptr) (base uintptr, size int, ok bool) {
	for b, a := range m.dev {
		if p >= b && p < b+uintptr(a.size) {
			return b, a.size, true
		}
	}
	return 0, 0, false
}

// IpcGetMemHandle exports the allocation holding p.
func (m *Mock) IpcGetMemHandle(p cuda.DevicePtr) (cuda.IPCHandle, error) {
	var h cuda.IPCHandle
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaIpcGetMemHandle"); err != nil {
		return h, err
	}
	base, size, ok := m.allocation(uintptr(p))
	if !ok {
		return h, cuda.NewAPIError("cudaIpcGetMemHandle", 1, "cudaErrorInvalidValue", "invalid argument (CUDA mock: not device memory)")
	}
	copy(h[:16], ipcMagic[:])
	binary.LittleEndian.PutUint64(h[16:], uint64(os.Getpid()))
	binary.LittleEndian.PutUint64(h[24:], uint64(uintptr(unsafe.Pointer(m))))
	binary.LittleEndian.PutUint64(h[32:], uint64(base))
	binary.LittleEndian.PutUint64(h[40:], uint64(size))
	return h, nil
}

// IpcOpenMemHandle opens a handle this mock exported and returns the
// allocation's base.
func (m *Mock) IpcOpenMemHandle(h cuda.IPCHandle) (cuda.DevicePtr, error) {
	const op = "cudaIpcOpenMemHandle"
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx(op); err != nil {
		return 0, err
	}
	if !bytes.Equal(h[:16], ipcMagic[:]) {
		return 0, invalidHandle(op, "not a handle the mock exported")
	}
	if binary.LittleEndian.Uint64(h[16:]) != uint64(os.Getpid()) {
		return 0, invalidHandle(op, "the mock opens only handles exported in this process")
	}
	if binary.LittleEndian.Uint64(h[24:]) != uint64(uintptr(unsafe.Pointer(m))) {
		return 0, invalidHandle(op, "exported by another mock")
	}
	base := uintptr(binary.LittleEndian.Uint64(h[32:]))
	a, ok := m.dev[base]
	if !ok || uint64(a.size) != binary.LittleEndian.Uint64(h[40:]) {
		return 0, invalidHandle(op, "the exported allocation was freed")
	}
	m.opens()[base]++
	return cuda.DevicePtr(base), nil
}

// IpcCloseMemHandle closes what IpcOpenMemHandle returned.
func (m *Mock) IpcCloseMemHandle(p cuda.DevicePtr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cudaIpcCloseMemHandle"); err != nil {
		return err
	}
	o := m.opens()
	if o[uintptr(p)] == 0 {
		return invalidHandle("cudaIpcCloseMemHandle", "not an opened IPC address")
	}
	if o[uintptr(p)]--; o[uintptr(p)] == 0 {
		delete(o, uintptr(p))
	}
	return nil
}

// MemGetAddressRange is the live device allocation holding p.
func (m *Mock) MemGetAddressRange(p cuda.DevicePtr) (cuda.DevicePtr, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ctx("cuMemGetAddressRange"); err != nil {
		return 0, 0, err
	}
	base, size, ok := m.allocation(uintptr(p))
	if !ok {
		return 0, 0, cuda.NewAPIError("cuMemGetAddressRange", 1, "CUDA_ERROR_INVALID_VALUE", "not device memory")
	}
	return cuda.DevicePtr(base), uint64(size), nil
}

// IPCOpen is how many IPC handles are open now (tests check it is back to
// 0 when they end).
func (m *Mock) IPCOpen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.opens() {
		n += c
	}
	return n
}

var _ cuda.IPC = (*Mock)(nil)
