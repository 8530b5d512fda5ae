package shm

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/trtserve/trtserve/config"
)

// Kind is the memory a region lives in.
type Kind int

const (
	// System is host memory: a POSIX shm object under /dev/shm.
	System Kind = iota
	// CUDA is device memory another process exported (cudaIpcMemHandle_t).
	CUDA
)

func (k Kind) String() string {
	switch k {
	case System:
		return "system"
	case CUDA:
		return "cuda"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Errors. Every error the registry returns wraps one of these (errors.Is)
// and says, in Triton's words where Triton has them, which region and which
// bound.
var (
	// ErrNotFound: no region of that name (of that kind, for Status).
	ErrNotFound = errors.New("shared memory region not found")
	// ErrExists: the name is taken (by a region of either kind).
	ErrExists = errors.New("shared memory region already registered")
	// ErrBounds: an offset or size outside the region or its file.
	ErrBounds = errors.New("shared memory window out of bounds")
	// ErrInvalid: a bad key, name, handle, size or device; too many
	// regions; a closed registry or a released lease.
	ErrInvalid = errors.New("invalid shared memory request")
	// ErrNoCUDA: a CUDA region asked of a server that cannot open CUDA IPC
	// handles (no GPU, no libcudart). Such errors wrap ErrInvalid too.
	ErrNoCUDA = errors.New("CUDA shared memory is not available")
)

// Mark is err, which errors.Is also reports as kind (ErrBounds, ErrNoCUDA,
// ...), with err's message unchanged: how a CUDAOpener classifies its
// errors without repeating the sentinel's text.
func Mark(err, kind error) error { return marked{err, kind} }

type marked struct{ err, kind error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.err, m.kind} }

// CUDAHandleSize is the size of a cudaIpcMemHandle_t.
const CUDAHandleSize = 64

// maxNameBytes bounds a region's name: names are echoed in status answers
// and error messages.
const maxNameBytes = 256

// RegionStatus describes one registered region as Triton's status answers
// do: Key and Offset for system regions, DeviceID for CUDA ones.
type RegionStatus struct {
	Name, Key        string
	Offset, ByteSize uint64
	DeviceID         int
	Kind             Kind
}

// Options configure a Registry.
type Options struct {
	// CUDA opens CUDA IPC handles; nil refuses CUDA regions (ErrNoCUDA).
	CUDA CUDAOpener
	// MaxRegions bounds the regions registered at once, both kinds
	// together; 0 is config.DefaultMaxSharedMemoryRegions.
	MaxRegions int
	// Dir is where system keys are looked up; "" is /dev/shm (tests use a
	// temporary directory).
	Dir string
}

// CUDAOpener opens a CUDA IPC handle on a device. internal/app implements
// it over package cuda (and the CUDA mock under the cudamock build tag).
type CUDAOpener interface {
	// OpenIPC opens rawHandle (CUDAHandleSize bytes) on deviceID and
	// checks that byteSize bytes from the handle's address lie inside the
	// exported allocation.
	OpenIPC(rawHandle []byte, deviceID int, byteSize uint64) (CUDAMapping, error)
}

// CUDAMapping is an opened CUDA IPC region. Offsets are from the start of
// the region; the registry checks bounds before calling.
type CUDAMapping interface {
	CopyToHost(dst []byte, off uint64) error
	CopyFromHost(src []byte, off uint64) error
	Close() error
}

// Registry is the set of regions registered. It is safe for concurrent use.
type Registry struct {
	o   Options
	dir string
	max int

	mu      sync.Mutex
	regions map[string]*region // guarded by mu
	// pending are names being registered (the slow part — opening a file,
	// a CUDA IPC handle — runs outside mu); they count as taken.
	pending map[string]Kind
	closed  bool
}

// NewRegistry is an empty registry.
func NewRegistry(o Options) *Registry {
	r := &Registry{o: o, dir: o.Dir, max: o.MaxRegions, regions: map[string]*region{}, pending: map[string]Kind{}}
	if r.dir == "" {
		r.dir = "/dev/shm"
	}
	if r.max <= 0 {
		r.max = config.DefaultMaxSharedMemoryRegions
	}
	return r
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the region's name is empty", ErrInvalid)
	case len(name) > maxNameBytes:
		return fmt.Errorf("%w: the region's name is %d bytes, the limit is %d", ErrInvalid, len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: the region's name is not UTF-8", ErrInvalid)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: the region's name %q holds a control character", ErrInvalid, name)
		}
	}
	return nil
}

// reserve takes name for a registration in progress, or says why not.
func (r *Registry) reserve(name string, k Kind) error {
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("%w: the server is shutting down", ErrInvalid)
	}
	_, taken := r.regions[name]
	if _, p := r.pending[name]; taken || p {
		return fmt.Errorf("%w: shared memory region '%s' already in manager", ErrExists, name)
	}
	if n := len(r.regions) + len(r.pending); n >= r.max {
		return fmt.Errorf("%w: failed to register shared memory region '%s': %d regions are registered, the limit is %d (unregister some first)", ErrInvalid, name, n, r.max)
	}
	r.pending[name] = k
	return nil
}

// commit turns a reservation into a region (reg nil: drops it). A registry
// closed meanwhile refuses it, and the caller releases what it opened.
func (r *Registry) commit(name string, reg *region) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, name)
	if reg == nil {
		return nil
	}
	if r.closed {
		return fmt.Errorf("%w: the server is shutting down", ErrInvalid)
	}
	r.regions[name] = reg
	return nil
}

// RegisterSystem maps byteSize bytes at offset of the POSIX shm object key
// as region name.
func (r *Registry) RegisterSystem(name, key string, offset, byteSize uint64) error {
	if err := r.reserve(name, System); err != nil {
		return err
	}
	reg, err := openSystem(r.dir, name, key, offset, byteSize)
	if err != nil {
		r.commit(name, nil)
		return err
	}
	if err := r.commit(name, reg); err != nil {
		reg.unref()
		return err
	}
	return nil
}

// RegisterCUDA opens rawHandle (a cudaIpcMemHandle_t, CUDAHandleSize bytes)
// on deviceID as region name, byteSize bytes long.
func (r *Registry) RegisterCUDA(name string, rawHandle []byte, deviceID int, byteSize uint64) error {
	switch {
	case len(rawHandle) != CUDAHandleSize:
		return fmt.Errorf("%w: failed to register CUDA shared memory region '%s': the raw handle is %d bytes, a cudaIpcMemHandle_t is %d", ErrInvalid, name, len(rawHandle), CUDAHandleSize)
	case deviceID < 0:
		return fmt.Errorf("%w: failed to register CUDA shared memory region '%s': device_id %d is negative", ErrInvalid, name, deviceID)
	case byteSize == 0:
		return fmt.Errorf("%w: failed to register CUDA shared memory region '%s': byte_size is 0", ErrInvalid, name)
	case r.o.CUDA == nil:
		return fmt.Errorf("%w: %w: failed to register CUDA shared memory region '%s': this server has no CUDA runtime", ErrInvalid, ErrNoCUDA, name)
	}
	if err := r.reserve(name, CUDA); err != nil {
		return err
	}
	m, err := r.o.CUDA.OpenIPC(append([]byte(nil), rawHandle...), deviceID, byteSize)
	if err != nil {
		r.commit(name, nil)
		kind := ErrInvalid
		if errors.Is(err, ErrBounds) {
			kind = ErrBounds
		}
		return fmt.Errorf("%w: failed to register CUDA shared memory region '%s': %w", kind, name, err)
	}
	reg := &region{kind: CUDA, name: name, size: byteSize, device: deviceID, cuda: m}
	reg.refs.Store(1)
	if err := r.commit(name, reg); err != nil {
		reg.unref()
		return err
	}
	return nil
}

// Unregister removes region name of kind k, or every region of kind k when
// name is "". Its mapping goes when its last Lease is released. A name not
// registered, or registered as the other kind, is no error (as Triton).
// The error, if any, is from unmapping.
func (r *Registry) Unregister(k Kind, name string) error {
	r.mu.Lock()
	var gone []*region
	for n, reg := range r.regions {
		if reg.kind == k && (name == "" || n == name) {
			gone = append(gone, reg)
			delete(r.regions, n)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, reg := range gone {
		errs = append(errs, reg.unref())
	}
	return errors.Join(errs...)
}

// Status describes region name of kind k, or every region of kind k
// (sorted by name) when name is "". An unknown name, or one registered as
// the other kind, is ErrNotFound with Triton's message.
func (r *Registry) Status(k Kind, name string) ([]RegionStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		out := []RegionStatus{}
		for _, reg := range r.regions {
			if reg.kind == k {
				out = append(out, reg.status())
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	reg, ok := r.regions[name]
	if !ok {
		return nil, fmt.Errorf("%w: Unable to find %s shared memory region: '%s'", ErrNotFound, k, name)
	}
	if reg.kind != k {
		other, want := "system", "CUDA"
		if reg.kind == CUDA {
			other, want = "CUDA", "system"
		}
		return nil, fmt.Errorf("%w: The region named '%s' is registered as %s shared memory, not %s shared memory", ErrNotFound, name, other, want)
	}
	return []RegionStatus{reg.status()}, nil
}

// Acquire leases size bytes at offset of region name (either kind). The
// region stays mapped until the lease is released, even if it is
// unregistered meanwhile.
func (r *Registry) Acquire(name string, offset, size uint64) (*Lease, error) {
	r.mu.Lock()
	reg, ok := r.regions[name]
	if ok {
		reg.refs.Add(1)
	}
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: Unable to find shared memory region: '%s'", ErrNotFound, name)
	}
	if err := checkWindow(name, offset, size, reg.size); err != nil {
		reg.unref()
		return nil, err
	}
	return &Lease{reg: reg, off: offset, size: size}, nil
}

// checkWindow is Acquire's bounds check, without overflow: offset must lie
// inside the region and size must fit in what is left after it.
func checkWindow(name string, offset, size, regionSize uint64) error {
	if offset >= regionSize {
		return fmt.Errorf("%w: Invalid offset for shared memory region: '%s': offset %d, the region is %d bytes", ErrBounds, name, offset, regionSize)
	}
	if size > regionSize-offset {
		return fmt.Errorf("%w: Invalid offset + byte size for shared memory region: '%s': offset %d + byte size %d is past the region's %d bytes", ErrBounds, name, offset, size, regionSize)
	}
	return nil
}

// Close unregisters every region and refuses later registrations. Regions
// with leases outstanding are unmapped as those are released.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	gone := make([]*region, 0, len(r.regions))
	for n, reg := range r.regions {
		gone = append(gone, reg)
		delete(r.regions, n)
	}
	r.mu.Unlock()
	var errs []error
	for _, reg := range gone {
		errs = append(errs, reg.unref())
	}
	return errors.Join(errs...)
}
