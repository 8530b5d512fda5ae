package engines

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HostBuffer is tensor memory outside the Go heap: native runtimes (ONNX
// Runtime, TensorRT through the shim, CUDA DMA) may keep pointers into it,
// which cgo forbids for Go memory. The Go views returned by Bytes and
// Float32s are valid until Close; whoever allocated the buffer closes it.
type HostBuffer struct {
	mem  []byte
	free func([]byte) error
}

// NewHostBuffer wraps memory owned elsewhere (for allocators in other
// packages, e.g. CUDA pinned memory). free runs once, on Close.
func NewHostBuffer(mem []byte, free func([]byte) error) *HostBuffer {
	return &HostBuffer{mem: mem, free: free}
}

// Bytes is the whole buffer.
func (b *HostBuffer) Bytes() []byte { return b.mem }

// Len is the buffer's size in bytes.
func (b *HostBuffer) Len() int { return len(b.mem) }

// Float32s views the buffer as float32 elements.
func (b *HostBuffer) Float32s() []float32 {
	if len(b.mem) < 4 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b.mem[0])), len(b.mem)/4)
}

// Close releases the memory; it is safe to call twice.
func (b *HostBuffer) Close() error {
	if b == nil || b.mem == nil {
		return nil
	}
	mem := b.mem
	b.mem = nil
	if b.free != nil {
		return b.free(mem)
	}
	return nil
}

// Allocator hands out host tensor buffers. The pipeline allocates every batch
// buffer through one, so CUDA pinned memory replaces the default without the
// pipeline changing.
type Allocator interface {
	Alloc(size int) (*HostBuffer, error)
}

// MmapAllocator allocates page-aligned anonymous memory with mmap: outside
// the Go heap like C memory, aligned for any SIMD width, and without cgo.
type MmapAllocator struct{}

// Alloc maps size bytes (rounded up to a page), zero-filled.
func (MmapAllocator) Alloc(size int) (*HostBuffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("alloc %d bytes: size must be positive", size)
	}
	page := unix.Getpagesize()
	mapped := (size + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, mapped, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("alloc %d bytes: %w", size, err)
	}
	return &HostBuffer{mem: mem[:size], free: func(m []byte) error {
		return unix.Munmap(m[:cap(m)])
	}}, nil
}
