package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// pattern is byte i of every test file: a window's bytes say where it is.
func pattern(i uint64) byte { return byte(i*7 + i>>8 + 3) }

// shmFile makes dir/name of size bytes holding pattern.
func shmFile(t testing.TB, dir, name string, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = pattern(uint64(i))
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newTestRegistry(t *testing.T, o Options) (*Registry, string) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r := NewRegistry(o)
	t.Cleanup(func() { r.Close() })
	return r, o.Dir
}

func TestRegisterSystem(t *testing.T) {
	r, dir := newTestRegistry(t, Options{})
	shmFile(t, dir, "input", 10000)
	shmFile(t, dir, "empty", 0)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "input"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, name, key string
		offset, size    uint64
		want            error  // nil: registers
		msg             string // in the error
	}{
		{"whole file", "r1", "/input", 0, 10000, nil, ""},
		{"no leading slash", "r2", "input", 0, 16, nil, ""},
		{"window past a page", "r3", "/input", 4099, 5000, nil, ""},
		{"last byte", "r4", "/input", 9999, 1, nil, ""},
		{"name taken", "r1", "/input", 0, 1, ErrExists, "shared memory region 'r1' already in manager"},
		{"past the end", "b1", "/input", 9000, 1001, ErrBounds, "offset 9000 + byte_size 1001 is past the end of '/input' (10000 bytes)"},
		{"offset past the end", "b2", "/input", 10001, 1, ErrBounds, "offset 10001 + byte_size 1 is past the end"},
		{"offset+size overflows", "b3", "/input", 1 << 63, 1 << 63, ErrBounds, "past the end"},
		{"size overflows", "b4", "/input", 1, ^uint64(0), ErrBounds, "past the end"},
		{"zero size", "b5", "/input", 0, 0, ErrInvalid, "byte_size is 0"},
		{"empty file", "b6", "/empty", 0, 1, ErrBounds, "(0 bytes)"},
		{"missing key", "k1", "/nope", 0, 1, ErrInvalid, "Unable to open shared memory region: '/nope'"},
		{"empty key", "k2", "", 0, 1, ErrInvalid, "names no object"},
		{"slash only", "k3", "/", 0, 1, ErrInvalid, "names no object"},
		{"two slashes", "k4", "//input", 0, 1, ErrInvalid, "only one leading '/'"},
		{"inner slash", "k5", "/a/input", 0, 1, ErrInvalid, "only one leading '/'"},
		{"dot dot", "k6", "/..", 0, 1, ErrInvalid, "not a shared memory object"},
		{"traversal", "k7", "/../etc/passwd", 0, 1, ErrInvalid, "only one leading '/'"},
		{"NUL", "k8", "/in\x00put", 0, 1, ErrInvalid, "no NUL"},
		{"too long", "k9", "/" + strings.Repeat("a", 256), 0, 1, ErrInvalid, "the limit is 255"},
		{"directory", "k10", "/adir", 0, 1, ErrInvalid, "is a directory"},
		{"symlink", "k11", "/link", 0, 1, ErrInvalid, "symbolic link"},
		{"fifo", "k12", "/fifo", 0, 1, ErrInvalid, "not a regular file"},
		{"empty name", "", "/input", 0, 1, ErrInvalid, "name is empty"},
		{"long name", strings.Repeat("n", 257), "/input", 0, 1, ErrInvalid, "the limit is 256"},
		{"control character", "a\nb", "/input", 0, 1, ErrInvalid, "control character"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := r.RegisterSystem(tc.name, tc.key, tc.offset, tc.size)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("RegisterSystem(%q, %q, %d, %d) = %v", tc.name, tc.key, tc.offset, tc.size, err)
				}
				st, err := r.Status(System, tc.name)
				if err != nil || len(st) != 1 || st[0] != (RegionStatus{Name: tc.name, Key: tc.key, Offset: tc.offset, ByteSize: tc.size, Kind: System}) {
					t.Fatalf("Status = %+v, %v", st, err)
				}
				l, err := r.Acquire(tc.name, 0, tc.size)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
				b := l.Bytes()
				if uint64(len(b)) != tc.size || b[0] != pattern(tc.offset) || b[len(b)-1] != pattern(tc.offset+tc.size-1) {
					t.Fatalf("window of %d bytes starts %d ends %d; want %d bytes %d..%d", len(b), b[0], b[len(b)-1], tc.size, pattern(tc.offset), pattern(tc.offset+tc.size-1))
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("RegisterSystem(%q, %q, %d, %d) = %v; want %v containing %q", tc.name, tc.key, tc.offset, tc.size, err, tc.want, tc.msg)
			}
			if _, serr := r.Status(System, tc.name); tc.name != "" && tc.want != ErrExists && !errors.Is(serr, ErrNotFound) {
				t.Fatalf("a refused registration is in Status: %v", serr)
			}
		})
	}
	st, err := r.Status(System, "")
	if err != nil || len(st) != 4 || st[0].Name != "r1" || st[3].Name != "r4" {
		t.Fatalf("Status(all) = %+v, %v; want r1..r4 sorted", st, err)
	}
}

func TestAcquireBounds(t *testing.T) {
	r, dir := newTestRegistry(t, Options{})
	shmFile(t, dir, "f", 8192)
	if err := r.RegisterSystem("reg", "/f", 100, 1000); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what         string
		name         string
		offset, size uint64
		want         error
		msg          string
	}{
		{"all", "reg", 0, 1000, nil, ""},
		{"tail", "reg", 999, 1, nil, ""},
		{"empty window", "reg", 500, 0, nil, ""},
		{"offset at the end", "reg", 1000, 0, ErrBounds, "Invalid offset for shared memory region: 'reg': offset 1000, the region is 1000 bytes"},
		{"one past", "reg", 1, 1000, ErrBounds, "Invalid offset + byte size for shared memory region: 'reg': offset 1 + byte size 1000 is past the region's 1000 bytes"},
		{"overflow", "reg", 10, ^uint64(0) - 5, ErrBounds, "past the region's 1000 bytes"},
		{"huge offset", "reg", ^uint64(0), 1, ErrBounds, "Invalid offset"},
		{"unknown", "nope", 0, 1, ErrNotFound, "Unable to find shared memory region: 'nope'"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			l, err := r.Acquire(tc.name, tc.offset, tc.size)
			if tc.want != nil {
				if l != nil || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Acquire(%d, %d) = %v, %v; want %v containing %q", tc.offset, tc.size, l, err, tc.want, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			b := l.Bytes()
			if uint64(len(b)) != tc.size || uint64(cap(b)) != tc.size {
				t.Fatalf("len %d cap %d, want %d", len(b), cap(b), tc.size)
			}
			for i := range b {
				if b[i] != pattern(100+tc.offset+uint64(i)) {
					t.Fatalf("byte %d is %d, want the file's byte %d", i, b[i], 100+tc.offset+uint64(i))
				}
			}
		})
	}
	// Read and Write: into and out of the window, never past it.
	l, err := r.Acquire("reg", 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(bytes.Repeat([]byte{0xee}, 21)); !errors.Is(err, ErrBounds) {
		t.Fatalf("Write of 21 bytes into 20 = %v, want ErrBounds", err)
	}
	if err := l.Read(make([]byte, 21)); !errors.Is(err, ErrBounds) {
		t.Fatalf("Read of 21 bytes from 20 = %v, want ErrBounds", err)
	}
	if err := l.Write(bytes.Repeat([]byte{0xee}, 20)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 20)
	if err := l.Read(got); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{0xee}, 20)) {
		t.Fatalf("Read = %v, %v", got, err)
	}
	l.Release()
	l.Release() // twice is harmless
	if l.Bytes() != nil || l.Read(got) == nil || l.Write(got) == nil {
		t.Fatal("a released lease still reads or writes")
	}
	// The write reached the file, and only the window.
	f, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range f {
		want := pattern(uint64(i))
		if i >= 110 && i < 130 {
			want = 0xee
		}
		if c != want {
			t.Fatalf("file byte %d = %#x, want %#x", i, c, want)
		}
	}
}

// fakeCUDA opens "handles" that name host buffers: the registry's CUDA
// path without a GPU (internal/app tests it over the CUDA mock).
type fakeCUDA struct {
	mu     sync.Mutex
	mem    map[byte][]byte // handle[0] -> memory
	open   int
	failOn byte
}

type fakeMapping struct {
	f   *fakeCUDA
	mem []byte
}

func (f *fakeCUDA) OpenIPC(h []byte, dev int, size uint64) (CUDAMapping, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mem, ok := f.mem[h[0]]
	if !ok || h[0] == f.failOn {
		return nil, fmt.Errorf("cudaIpcOpenMemHandle: invalid resource handle")
	}
	if size > uint64(len(mem)) {
		return nil, fmt.Errorf("%w: byte_size %d is past the allocation's %d bytes", ErrBounds, size, len(mem))
	}
	f.open++
	return &fakeMapping{f, mem[:size]}, nil
}

func (m *fakeMapping) CopyToHost(dst []byte, off uint64) error   { copy(dst, m.mem[off:]); return nil }
func (m *fakeMapping) CopyFromHost(src []byte, off uint64) error { copy(m.mem[off:], src); return nil }
func (m *fakeMapping) Close() error {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.f.open--
	return nil
}

func handle(b byte) []byte { h := make([]byte, CUDAHandleSize); h[0] = b; return h }

func TestRegisterCUDA(t *testing.T) {
	f := &fakeCUDA{mem: map[byte][]byte{1: make([]byte, 4096), 2: make([]byte, 64)}, failOn: 2}
	r, dir := newTestRegistry(t, Options{CUDA: f})
	shmFile(t, dir, "f", 100)
	for _, tc := range []struct {
		what   string
		name   string
		handle []byte
		dev    int
		size   uint64
		want   error
		msg    string
	}{
		{"ok", "c1", handle(1), 0, 4096, nil, ""},
		{"part of it", "c2", handle(1), 1, 100, nil, ""},
		{"name taken", "c1", handle(1), 0, 1, ErrExists, "already in manager"},
		{"short handle", "c3", make([]byte, 63), 0, 1, ErrInvalid, "the raw handle is 63 bytes, a cudaIpcMemHandle_t is 64"},
		{"negative device", "c3", handle(1), -1, 1, ErrInvalid, "device_id -1"},
		{"zero size", "c3", handle(1), 0, 0, ErrInvalid, "byte_size is 0"},
		{"too big", "c3", handle(1), 0, 4097, ErrBounds, "past the allocation"},
		{"open fails", "c3", handle(2), 0, 1, ErrInvalid, "invalid resource handle"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := r.RegisterCUDA(tc.name, tc.handle, tc.dev, tc.size)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				st, err := r.Status(CUDA, tc.name)
				if err != nil || st[0] != (RegionStatus{Name: tc.name, ByteSize: tc.size, DeviceID: tc.dev, Kind: CUDA}) {
					t.Fatalf("Status = %+v, %v", st, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("RegisterCUDA = %v; want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	// One namespace for both kinds, and Status keeps them apart as Triton.
	if err := r.RegisterSystem("c1", "/f", 0, 1); !errors.Is(err, ErrExists) {
		t.Fatalf("system region named as a CUDA one: %v", err)
	}
	if err := r.RegisterSystem("s1", "/f", 0, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(System, "c1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "The region named 'c1' is registered as CUDA shared memory, not system shared memory") {
		t.Fatalf("Status(System, cuda region) = %v", err)
	}
	if _, err := r.Status(CUDA, "s1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "is registered as system shared memory, not CUDA shared memory") {
		t.Fatalf("Status(CUDA, system region) = %v", err)
	}
	if _, err := r.Status(CUDA, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Unable to find cuda shared memory region: 'nope'") {
		t.Fatalf("Status(CUDA, unknown) = %v", err)
	}
	// Copies through a lease on a CUDA region.
	l, err := r.Acquire("c2", 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	if l.Bytes() != nil || l.Kind() != CUDA || l.Size() != 20 {
		t.Fatalf("CUDA lease: Bytes %v Kind %v Size %d", l.Bytes(), l.Kind(), l.Size())
	}
	if err := l.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	if err := l.Read(got); err != nil || string(got) != "0123456789" || string(f.mem[1][10:20]) != "0123456789" {
		t.Fatalf("Read = %q, %v; memory %q", got, err, f.mem[1][10:20])
	}
	if _, err := r.Acquire("c2", 90, 11); !errors.Is(err, ErrBounds) {
		t.Fatalf("Acquire past a CUDA region = %v", err)
	}
	// Unregister of the wrong kind or an unknown name does nothing, as Triton.
	if err := r.Unregister(System, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Unregister(CUDA, "nope"); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Status(CUDA, ""); len(st) != 2 {
		t.Fatalf("CUDA regions after no-op unregisters: %+v", st)
	}
	// Unregister all CUDA: c1 closes now, c2 when its lease goes.
	if err := r.Unregister(CUDA, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Status(CUDA, ""); len(st) != 0 || f.open != 1 {
		t.Fatalf("after unregister-all: status %+v, %d open (want the leased one)", st, f.open)
	}
	if st, _ := r.Status(System, ""); len(st) != 1 {
		t.Fatalf("unregistering CUDA regions dropped system ones: %+v", st)
	}
	if err := l.Read(got); err != nil {
		t.Fatalf("a lease outlives its region's unregistering: %v", err)
	}
	l.Release()
	if f.open != 0 {
		t.Fatalf("%d mappings open after the last lease", f.open)
	}

	// Without an opener, CUDA regions are refused naming why.
	r2, _ := newTestRegistry(t, Options{})
	if err := r2.RegisterCUDA("c", handle(1), 0, 1); !errors.Is(err, ErrNoCUDA) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("RegisterCUDA without CUDA = %v", err)
	}
}

func TestUnregisterKeepsLeasedMapping(t *testing.T) {
	r, dir := newTestRegistry(t, Options{})
	shmFile(t, dir, "f", 4096)
	if err := r.RegisterSystem("a", "/f", 0, 4096); err != nil {
		t.Fatal(err)
	}
	l, err := r.Acquire("a", 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unregister(System, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Acquire("a", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Acquire after Unregister = %v", err)
	}
	// The name is free at once, while the old mapping lives on.
	if err := r.RegisterSystem("a", "/f", 16, 16); err != nil {
		t.Fatal(err)
	}
	if b := l.Bytes(); len(b) != 16 || b[0] != pattern(0) || b[15] != pattern(15) {
		t.Fatalf("leased window after unregister: %v", b)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if b := l.Bytes(); len(b) != 16 || b[3] != pattern(3) {
		t.Fatalf("leased window after Close: %v", b)
	}
	if err := r.RegisterSystem("b", "/f", 0, 1); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("RegisterSystem after Close = %v", err)
	}
	if _, err := r.Acquire("a", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Acquire after Close = %v", err)
	}
	l.Release()
	if l.Bytes() != nil {
		t.Fatal("Bytes after Release")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMaxRegions(t *testing.T) {
	r, dir := newTestRegistry(t, Options{MaxRegions: 3})
	shmFile(t, dir, "f", 10)
	for i := range 3 {
		if err := r.RegisterSystem(fmt.Sprint("r", i), "/f", 0, 10); err != nil {
			t.Fatal(err)
		}
	}
	err := r.RegisterSystem("r3", "/f", 0, 10)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "3 regions are registered, the limit is 3") {
		t.Fatalf("fourth region = %v", err)
	}
	if err := r.Unregister(System, "r0"); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterSystem("r3", "/f", 0, 10); err != nil {
		t.Fatalf("after unregistering one: %v", err)
	}
	if NewRegistry(Options{}).max != 256 {
		t.Fatal("default bound is not config.DefaultMaxSharedMemoryRegions (256)")
	}
}

// A client that shrinks its file under a registered region makes the
// mapping fault (SIGBUS): Read and Write report it; the process lives.
func TestShrunkFileFaultsSafely(t *testing.T) {
	r, dir := newTestRegistry(t, Options{})
	shmFile(t, dir, "f", 3*4096)
	if err := r.RegisterSystem("a", "/f", 0, 3*4096); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "f"), 0); err != nil {
		t.Fatal(err)
	}
	l, err := r.Acquire("a", 4096, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.Read(make([]byte, 4096)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "shrunk") {
		t.Fatalf("Read of a truncated region = %v", err)
	}
	if err := l.Write(make([]byte, 4096)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Write of a truncated region = %v", err)
	}
}

// Leases and (un)registrations from many goroutines: run with -race.
func TestConcurrentUse(t *testing.T) {
	r, dir := newTestRegistry(t, Options{MaxRegions: 8})
	shmFile(t, dir, "f", 4096)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint("g", g%4)
			buf := make([]byte, 64)
			for i := range 200 {
				switch i % 3 {
				case 0:
					r.RegisterSystem(name, "/f", uint64(g*64), 64)
				case 1:
					if l, err := r.Acquire(name, 0, 64); err == nil {
						if err := l.Read(buf); err != nil {
							t.Error(err)
						}
						l.Release()
					}
				case 2:
					r.Unregister(System, name)
				}
			}
		}()
	}
	wg.Wait()
}
