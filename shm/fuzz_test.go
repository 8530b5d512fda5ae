package shm

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unsafe"
)

// FuzzAcquire: whatever the registered window (fileSize, regOff, regSize)
// and the requested one (offset, size), a lease exposes exactly size bytes,
// all of them inside the registered window, and they are the file's bytes
// at regOff+offset; anything else is refused with ErrBounds (or, for a bad
// registration, ErrBounds/ErrInvalid). make fuzz-short runs it
// (scripts/fuzz.sh finds every Fuzz target).
func FuzzAcquire(f *testing.F) {
	f.Add(uint16(8192), uint64(100), uint64(1000), uint64(0), uint64(1000))
	f.Add(uint16(8192), uint64(4095), uint64(4097), uint64(4096), uint64(1))
	f.Add(uint16(10), uint64(0), uint64(10), uint64(9), uint64(2))
	f.Add(uint16(10), uint64(0), uint64(10), uint64(10), uint64(0))
	f.Add(uint16(10), uint64(1), uint64(9), ^uint64(0), uint64(2))
	f.Add(uint16(4096), uint64(1<<63), uint64(1<<63), uint64(0), uint64(1))
	f.Add(uint16(100), uint64(0), uint64(100), uint64(50), ^uint64(0)-40)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, fileSize uint16, regOff, regSize, offset, size uint64) {
		// One file per size (at most 5000 files, 12 MB), its bytes the
		// pattern; sizes cross page boundaries.
		fileSize %= 5000
		name := filepath.Join(dir, "f-"+strconv.Itoa(int(fileSize)))
		if _, err := os.Stat(name); err != nil {
			b := make([]byte, fileSize)
			for i := range b {
				b[i] = pattern(uint64(i))
			}
			if err := os.WriteFile(name, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		key := "/" + filepath.Base(name)
		r := NewRegistry(Options{Dir: dir})
		defer r.Close()
		err := r.RegisterSystem("r", key, regOff, regSize)
		regOK := regSize > 0 && regOff <= uint64(fileSize) && regSize <= uint64(fileSize)-regOff
		if !regOK {
			if err == nil {
				t.Fatalf("registered [%d, +%d) of a %d-byte file", regOff, regSize, fileSize)
			}
			if !errors.Is(err, ErrBounds) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("RegisterSystem = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("RegisterSystem([%d, +%d) of %d bytes) = %v", regOff, regSize, fileSize, err)
		}
		reg := r.regions["r"]
		l, err := r.Acquire("r", offset, size)
		inside := offset < regSize && size <= regSize-offset
		if !inside {
			if l != nil || !errors.Is(err, ErrBounds) {
				t.Fatalf("Acquire(%d, %d) of a %d-byte region = %v, %v; want ErrBounds", offset, size, regSize, l, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Acquire(%d, %d) of a %d-byte region = %v", offset, size, regSize, err)
		}
		defer l.Release()
		b := l.Bytes()
		if uint64(len(b)) != size || uint64(cap(b)) != size {
			t.Fatalf("len %d cap %d, want %d", len(b), cap(b), size)
		}
		if uint64(len(reg.window)) != regSize {
			t.Fatalf("registered window is %d bytes, want %d", len(reg.window), regSize)
		}
		if size > 0 {
			lo := uintptr(unsafe.Pointer(&reg.window[0]))
			hi := lo + uintptr(len(reg.window))
			p := uintptr(unsafe.Pointer(&b[0]))
			if p < lo || p+uintptr(len(b)) > hi || p != lo+uintptr(offset) {
				t.Fatalf("window [%#x, +%d) is not at offset %d of the region [%#x, %#x)", p, len(b), offset, lo, hi)
			}
			for _, i := range []uint64{0, size / 2, size - 1} {
				if b[i] != pattern(regOff+offset+i) {
					t.Fatalf("byte %d of the window is %d, want the file's byte %d (%d)", i, b[i], regOff+offset+i, pattern(regOff+offset+i))
				}
			}
		}
		if err := l.Read(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := l.Read(make([]byte, size+1)); !errors.Is(err, ErrBounds) {
			t.Fatalf("Read of %d bytes from a %d-byte window = %v", size+1, size, err)
		}
	})
}

// FuzzCheckWindow is Acquire's arithmetic over the whole uint64 range.
func FuzzCheckWindow(f *testing.F) {
	f.Add(uint64(0), uint64(0), uint64(1))
	f.Add(^uint64(0), uint64(1), ^uint64(0))
	f.Add(uint64(1), ^uint64(0), ^uint64(0))
	f.Fuzz(func(t *testing.T, offset, size, regionSize uint64) {
		err := checkWindow("r", offset, size, regionSize)
		// The same question in 128 bits: offset < regionSize and
		// offset+size <= regionSize.
		sum, carry := offset+size, offset+size < offset
		ok := offset < regionSize && !carry && sum <= regionSize
		if ok != (err == nil) {
			t.Fatalf("checkWindow(%d, %d, %d) = %v, want ok=%v", offset, size, regionSize, err, ok)
		}
		if err != nil && !errors.Is(err, ErrBounds) {
			t.Fatalf("checkWindow error %v is not ErrBounds", err)
		}
	})
}
