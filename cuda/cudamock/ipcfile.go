package cudamock

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/trtserve/trtserve/cuda"
)

// FileIPC is the mock with CUDA IPC handles that cross processes: besides
// the handles the mock exports itself (which open only in this process,
// see ipc.go), it opens "file handles", which name a file of the shm
// directory (/dev/shm) holding the "device memory". Another process — a
// test's client, in any language — writes its tensor into such a file and
// registers FileHandle's 64 bytes as a CUDA shared-memory region; the
// server on the mock (TRTSERVE_CUDA_MOCK=1, a -tags cudamock build) maps
// the file and copies through it with MemcpyDtoH / MemcpyHtoD as through
// device memory. It is how CUDA shared memory is tested end to end without
// a GPU.
//
// A file handle is: the 16 bytes "trtserve-mockipf", the byte size
// (uint64, little-endian), then the file's name under the shm directory
// (at most 40 bytes, no '/', NUL-padded). Every other call is the Mock's.
type FileIPC struct {
	*Mock
	dir string

	mu   sync.Mutex         // guards maps
	maps map[uintptr][]byte // opened file handles, by base address
}

// NewFileIPC is m opening file handles from dir ("" is /dev/shm) too.
func NewFileIPC(m *Mock, dir string) *FileIPC {
	if dir == "" {
		dir = "/dev/shm"
	}
	return &FileIPC{Mock: m, dir: dir, maps: map[uintptr][]byte{}}
}

var fileMagic = [16]byte{'t', 'r', 't', 's', 'e', 'r', 'v', 'e', '-', 'm', 'o', 'c', 'k', 'i', 'p', 'f'}

// maxFileName is what is left of the 64 bytes for the file's name.
const maxFileName = cuda.IPCHandleSize - 24

// FileHandle is the handle naming size bytes of file name (under the shm
// directory) as mock device memory.
func FileHandle(name string, size uint64) (cuda.IPCHandle, error) {
	var h cuda.IPCHandle
	if name == "" || len(name) > maxFileName || strings.ContainsAny(name, "/\x00") {
		return h, fmt.Errorf("cudamock: file handle name %q: 1 to %d bytes, no '/' or NUL", name, maxFileName)
	}
	copy(h[:16], fileMagic[:])
	binary.LittleEndian.PutUint64(h[16:], size)
	copy(h[24:], name)
	return h, nil
}

func (f *FileIPC) context(op string) error {
	f.Mock.mu.Lock()
	defer f.Mock.mu.Unlock()
	return f.Mock.ctx(op)
}

// IpcOpenMemHandle maps a file handle's file (MAP_SHARED), or opens one of
// the mock's own handles.
func (f *FileIPC) IpcOpenMemHandle(h cuda.IPCHandle) (cuda.DevicePtr, error) {
	const op = "cudaIpcOpenMemHandle"
	if !bytes.Equal(h[:16], fileMagic[:]) {
		return f.Mock.IpcOpenMemHandle(h)
	}
	if err := f.context(op); err != nil {
		return 0, err
	}
	size := binary.LittleEndian.Uint64(h[16:])
	name := string(bytes.TrimRight(h[24:], "\x00"))
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || size == 0 || size > 1<<40 {
		return 0, invalidHandle(op, "malformed file handle")
	}
	fd, err := unix.Open(filepath.Join(f.dir, name), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, invalidHandle(op, fmt.Sprintf("file handle %q: %v", name, err))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Size) < size {
		return 0, invalidHandle(op, fmt.Sprintf("file handle %q: not a regular file of %d bytes or more", name, size))
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return 0, invalidHandle(op, fmt.Sprintf("file handle %q: mmap: %v", name, err))
	}
	base := uintptr(unsafe.Pointer(&mem[0]))
	f.mu.Lock()
	f.maps[base] = mem
	f.mu.Unlock()
	return cuda.DevicePtr(base), nil
}

// IpcCloseMemHandle unmaps a file handle, or closes one of the mock's.
func (f *FileIPC) IpcCloseMemHandle(p cuda.DevicePtr) error {
	f.mu.Lock()
	mem, ok := f.maps[uintptr(p)]
	delete(f.maps, uintptr(p))
	f.mu.Unlock()
	if !ok {
		return f.Mock.IpcCloseMemHandle(p)
	}
	if err := f.context("cudaIpcCloseMemHandle"); err != nil {
		return err
	}
	return unix.Munmap(mem)
}

// find is the opened file mapping holding [p, p+n), or ok false when p is
// in none (then it is the Mock's business); a range that starts in one and
// runs past it is an error.
func (f *FileIPC) find(p uintptr, n int) (view []byte, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for base, mem := range f.maps {
		if p < base || p >= base+uintptr(len(mem)) {
			continue
		}
		off := p - base
		if uint64(n) > uint64(len(mem))-uint64(off) {
			return nil, true, fmt.Errorf("%w: invalid argument: range %#x+%d runs past the mapped file handle (%d bytes)", cuda.ErrCUDA, p, n, len(mem))
		}
		return mem[off : off+uintptr(n)], true, nil
	}
	return nil, false, nil
}

// MemGetAddressRange is the file mapping holding p, or the Mock's
// allocation.
func (f *FileIPC) MemGetAddressRange(p cuda.DevicePtr) (cuda.DevicePtr, uint64, error) {
	f.mu.Lock()
	for base, mem := range f.maps {
		if uintptr(p) >= base && uintptr(p) < base+uintptr(len(mem)) {
			f.mu.Unlock()
			return cuda.DevicePtr(base), uint64(len(mem)), f.context("cuMemGetAddressRange")
		}
	}
	f.mu.Unlock()
	return f.Mock.MemGetAddressRange(p)
}

// faultSafe copies, turning a fault on a file the client truncated into an
// error (a test server must outlive a misbehaving client).
func faultSafe(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			err = fmt.Errorf("%w: the mock's file handle faulted (file truncated?)", cuda.ErrCUDA)
		}
	}()
	copy(dst, src)
	return nil
}

// MemcpyDtoH reads a file mapping, or the Mock's memory.
func (f *FileIPC) MemcpyDtoH(dst []byte, src cuda.DevicePtr) error {
	view, ok, err := f.find(uintptr(src), len(dst))
	if !ok {
		return f.Mock.MemcpyDtoH(dst, src)
	}
	if err == nil {
		err = f.context("cudaMemcpy")
	}
	if err != nil {
		return err
	}
	return faultSafe(dst, view)
}

// MemcpyHtoD writes a file mapping, or the Mock's memory.
func (f *FileIPC) MemcpyHtoD(dst cuda.DevicePtr, src []byte) error {
	view, ok, err := f.find(uintptr(dst), len(src))
	if !ok {
		return f.Mock.MemcpyHtoD(dst, src)
	}
	if err == nil {
		err = f.context("cudaMemcpy")
	}
	if err != nil {
		return err
	}
	return faultSafe(view, src)
}

// FilesOpen lists the file handles open now, by size (tests check that
// none is left).
func (f *FileIPC) FilesOpen() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, mem := range f.maps {
		out = append(out, len(mem))
	}
	sort.Ints(out)
	return out
}

// Close unmaps what is still open, then closes the Mock.
func (f *FileIPC) Close() error {
	f.mu.Lock()
	for base, mem := range f.maps {
		unix.Munmap(mem)
		delete(f.maps, base)
	}
	f.mu.Unlock()
	return f.Mock.Close()
}

var (
	_ cuda.Runtime = (*FileIPC)(nil)
	_ cuda.IPC     = (*FileIPC)(nil)
)
