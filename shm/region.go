package shm

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// region is one registered region. refs counts the registry's own
// reference (until Unregister or Close) and one per live Lease; the last
// unref unmaps.
type region struct {
	kind         Kind
	name, key    string
	offset, size uint64 // the registered window: offset into the key's file, byte size
	device       int

	// System: mapping is what mmap returned (from the page holding
	// offset), window its registered part, len(window) == size.
	mapping, window []byte
	// CUDA: the opened IPC mapping.
	cuda CUDAMapping

	refs atomic.Int64
}

func (g *region) status() RegionStatus {
	return RegionStatus{Name: g.name, Key: g.key, Offset: g.offset, ByteSize: g.size, DeviceID: g.device, Kind: g.kind}
}

// unref drops one reference; the last one releases the memory.
func (g *region) unref() error {
	if g.refs.Add(-1) != 0 {
		return nil
	}
	switch g.kind {
	case System:
		m := g.mapping
		g.mapping, g.window = nil, nil
		if err := unix.Munmap(m); err != nil {
			return fmt.Errorf("shm: unmapping region '%s': %w", g.name, err)
		}
	case CUDA:
		if err := g.cuda.Close(); err != nil {
			return fmt.Errorf("shm: closing CUDA region '%s': %w", g.name, err)
		}
	}
	return nil
}

// maxKeyBytes is NAME_MAX: a shm object is one file of /dev/shm.
const maxKeyBytes = 255

// keyFile checks a POSIX shm name and returns its file name under the shm
// directory: an optional leading '/', then no '/' and no NUL, not "." or
// "..", at most NAME_MAX bytes (what glibc's shm_open accepts).
func keyFile(key string) (string, error) {
	b := strings.TrimPrefix(key, "/")
	switch {
	case b == "":
		return "", fmt.Errorf("%w: shared memory key %q names no object (want e.g. \"/input_data\")", ErrInvalid, key)
	case len(b) > maxKeyBytes:
		return "", fmt.Errorf("%w: shared memory key is %d bytes, the limit is %d", ErrInvalid, len(b), maxKeyBytes)
	case strings.ContainsAny(b, "/\x00"):
		return "", fmt.Errorf("%w: shared memory key %q: only one leading '/' is allowed, and no NUL", ErrInvalid, key)
	case b == "." || b == "..":
		return "", fmt.Errorf("%w: shared memory key %q is not a shared memory object", ErrInvalid, key)
	}
	return b, nil
}

// openSystem opens key under dir and maps [offset, offset+byteSize) of it.
func openSystem(dir, name, key string, offset, byteSize uint64) (*region, error) {
	file, err := keyFile(key)
	if err != nil {
		return nil, err
	}
	if byteSize == 0 {
		return nil, fmt.Errorf("%w: failed to register shared memory region '%s': byte_size is 0", ErrInvalid, name)
	}
	// O_NOFOLLOW: a link planted in /dev/shm must not make the server map
	// another file; O_NONBLOCK: opening a FIFO must not wait (it is then
	// refused as not a regular file).
	fd, err := unix.Open(filepath.Join(dir, file), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		why := err.Error()
		if errors.Is(err, unix.ELOOP) {
			why = "it is a symbolic link"
		}
		return nil, fmt.Errorf("%w: Unable to open shared memory region: '%s': %s", ErrInvalid, key, why)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%w: Invalid shared memory region: '%s': %v", ErrInvalid, key, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: shared memory key '%s' is not a regular file", ErrInvalid, key)
	}
	fileSize := uint64(max(st.Size, 0))
	if offset > fileSize || byteSize > fileSize-offset {
		return nil, fmt.Errorf("%w: failed to register shared memory region '%s': invalid args: offset %d + byte_size %d is past the end of '%s' (%d bytes)", ErrBounds, name, offset, byteSize, key, fileSize)
	}
	// mmap wants a page-aligned file offset: map from the page holding
	// offset and keep the registered window of it.
	page := uint64(unix.Getpagesize())
	start := offset &^ (page - 1)
	lead := offset - start
	length := lead + byteSize // ≤ fileSize ≤ MaxInt64: no overflow
	if length > uint64(maxInt) {
		return nil, fmt.Errorf("%w: failed to register shared memory region '%s': %d bytes cannot be mapped", ErrBounds, name, length)
	}
	m, err := unix.Mmap(fd, int64(start), int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to register shared memory region '%s': mmap of '%s': %v", ErrInvalid, name, key, err)
	}
	g := &region{kind: System, name: name, key: key, offset: offset, size: byteSize, mapping: m, window: m[lead : lead+byteSize : lead+byteSize]}
	g.refs.Store(1)
	return g, nil
}

const maxInt = int(^uint(0) >> 1)

// Lease is a bounds-checked window of a region, which stays mapped until
// Release. A Lease is for one request: not for concurrent use.
type Lease struct {
	reg       *region
	off, size uint64
	released  atomic.Bool
}

// Kind is the region's kind.
func (l *Lease) Kind() Kind { return l.reg.kind }

// Size is the window's byte size.
func (l *Lease) Size() uint64 { return l.size }

// Bytes is the mapped window of a system region, exactly Size bytes long
// (and of that capacity); nil for a CUDA region or after Release. Reading
// it directly faults the process if the client shrank its file: Read and
// Write do not.
func (l *Lease) Bytes() []byte {
	if l.released.Load() || l.reg.kind != System {
		return nil
	}
	end := l.off + l.size
	return l.reg.window[l.off:end:end]
}

func (l *Lease) check(n int, verb string) error {
	if l.released.Load() {
		return fmt.Errorf("%w: the lease on region '%s' was released", ErrInvalid, l.reg.name)
	}
	if uint64(n) > l.size {
		return fmt.Errorf("%w: cannot %s %d bytes of a %d-byte window of region '%s'", ErrBounds, verb, n, l.size, l.reg.name)
	}
	return nil
}

// Read copies the first len(dst) bytes of the window into dst (either
// kind); len(dst) may not exceed Size.
func (l *Lease) Read(dst []byte) error {
	if err := l.check(len(dst), "read"); err != nil {
		return err
	}
	if l.reg.kind == CUDA {
		return l.reg.cuda.CopyToHost(dst, l.off)
	}
	return l.safeCopy(dst, l.Bytes())
}

// Write copies src into the start of the window (either kind); len(src)
// may not exceed Size.
func (l *Lease) Write(src []byte) error {
	if err := l.check(len(src), "write"); err != nil {
		return err
	}
	if l.reg.kind == CUDA {
		return l.reg.cuda.CopyFromHost(src, l.off)
	}
	return l.safeCopy(l.Bytes(), src)
}

// safeCopy copies, turning a fault on the mapping (the client truncated
// its file under it: SIGBUS) into an error.
func (l *Lease) safeCopy(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if _, fault := p.(interface{ Addr() uintptr }); !fault {
				panic(p)
			}
			err = fmt.Errorf("%w: shared memory region '%s' (key '%s') faulted: its file was shrunk below the registered window after registration", ErrInvalid, l.reg.name, l.reg.key)
		}
	}()
	copy(dst, src)
	return nil
}

// Release ends the lease; calling it again does nothing.
func (l *Lease) Release() {
	if l.released.CompareAndSwap(false, true) {
		l.reg.unref()
	}
}
