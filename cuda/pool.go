package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"unsafe"
)

// ErrPoolExhausted: a pinned allocation would exceed the pool's budget.
var ErrPoolExhausted = errors.New("pinned memory pool exhausted")

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Budget caps the pinned bytes the pool holds (handed out plus cached
	// for reuse). 0 means no cap: the pool grows to what the loaded models'
	// batch buffers need, which is its default size (Triton instead
	// reserves a fixed 256 MB up front).
	Budget int64
	// Flags for cudaHostAlloc; HostAllocPortable is always added.
	Flags HostAllocFlags
	// Device is the GPU the pool allocates from: cudaHostAlloc and
	// cudaFreeHost run on a thread with it current. Called from any other
	// thread they would create a context on that thread's device, GPU 0
	// for a thread that never chose one, whatever --gpu says.
	Device int
	Log    *slog.Logger
}

// Pool hands out pinned host memory in size classes and keeps released
// blocks for reuse, because cudaHostAlloc and cudaFreeHost are slow (they
// map and lock pages, and synchronize the device).
//
// When the budget is exhausted, Get fails and logs an error naming the
// budget and the size asked for. It never falls back to pageable memory:
// a silent fallback would halve copy bandwidth with nothing to show for it,
// so a model whose buffers do not fit fails its load loudly instead.
type Pool struct {
	rt    Runtime
	opts  PoolOptions
	mu    sync.Mutex // guards free, total, used, out and closed
	free  map[int][]unsafe.Pointer
	total int64 // pinned bytes held: in use + cached
	used  int64 // bytes of blocks handed out (their class sizes)
	out   int   // blocks handed out and not released
	// closed pools free released blocks at once.
	closed bool
}

// Block is one pinned allocation from a Pool. Bytes is valid until Release.
type Block struct {
	pool  *Pool
	ptr   unsafe.Pointer
	size  int // what was asked for
	class int // what was allocated
	mu    sync.Mutex
	done  bool
}

// NewPool makes an empty pool over rt.
func NewPool(rt Runtime, opts PoolOptions) *Pool {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Pool{rt: rt, opts: opts, free: map[int][]unsafe.Pointer{}}
}

const (
	minClass   = 4 << 10
	largeClass = 16 << 20 // above this, classes step by largeStep, not by powers of two
	largeStep  = 2 << 20
)

// classOf rounds size up to its class: powers of two up to 16 MiB (few
// classes, so blocks are reused across models), then multiples of 2 MiB
// (so a 100 MB batch buffer does not waste 28 MB).
func classOf(size int) int {
	if size <= minClass {
		return minClass
	}
	if size > largeClass {
		return (size + largeStep - 1) / largeStep * largeStep
	}
	return 1 << bits.Len(uint(size-1))
}

// Get returns a pinned block of at least size bytes (zeroed only when new).
func (p *Pool) Get(size int) (*Block, error) {
	if size <= 0 {
		return nil, fmt.Errorf("pinned alloc of %d bytes: size must be positive", size)
	}
	class := classOf(size)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("pinned alloc: %w", ErrClosed)
	}
	if list := p.free[class]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free[class] = list[:len(list)-1]
		p.used += int64(class)
		p.out++
		p.mu.Unlock()
		return &Block{pool: p, ptr: ptr, size: size, class: class}, nil
	}
	// Make room by giving cached blocks of other classes back to the
	// driver before refusing.
	var drop []unsafe.Pointer
	if p.opts.Budget > 0 {
		for c, list := range p.free {
			for len(list) > 0 && p.total+int64(class) > p.opts.Budget {
				drop = append(drop, list[len(list)-1])
				list = list[:len(list)-1]
				p.total -= int64(c)
			}
			p.free[c] = list
		}
		if p.total+int64(class) > p.opts.Budget {
			total, used := p.total, p.used
			p.mu.Unlock()
			p.freeAll(drop)
			err := fmt.Errorf("%w: %d bytes asked (class %d), budget %d bytes, %d held, %d in use: raise --pinned-memory-pool-bytes or lower max_batch_size / instance_count",
				ErrPoolExhausted, size, class, p.opts.Budget, total, used)
			p.opts.Log.Error("pinned memory pool exhausted: refusing instead of falling back to pageable memory", "asked", size, "budget", p.opts.Budget, "held", total, "in_use", used)
			return nil, err
		}
	}
	p.total += int64(class) // reserve before the slow call, so concurrent Gets respect the budget
	p.used += int64(class)
	p.out++
	p.mu.Unlock()
	p.freeAll(drop)
	var ptr unsafe.Pointer
	err := OnDevice(p.rt, p.opts.Device, func() error {
		var err error
		ptr, err = p.rt.HostAlloc(class, p.opts.Flags|HostAllocPortable)
		return err
	})
	if err != nil {
		p.mu.Lock()
		p.total -= int64(class)
		p.used -= int64(class)
		p.out--
		p.mu.Unlock()
		return nil, fmt.Errorf("pinned alloc of %d bytes: %w", size, err)
	}
	return &Block{pool: p, ptr: ptr, size: size, class: class}, nil
}

func (p *Pool) freeAll(ptrs []unsafe.Pointer) {
	if len(ptrs) == 0 {
		return
	}
	err := OnDevice(p.rt, p.opts.Device, func() error {
		for _, ptr := range ptrs {
			if err := p.rt.FreeHost(ptr); err != nil {
				p.opts.Log.Error("cudaFreeHost failed", "err", err)
			}
		}
		return nil
	})
	if err != nil {
		p.opts.Log.Error("cudaFreeHost: cannot select the device", "device", p.opts.Device, "err", err)
	}
}

// Bytes is the block as a Go view of its requested size. The memory is C
// memory: it stays put, and native code may hold it until Release.
func (b *Block) Bytes() []byte { return unsafe.Slice((*byte)(b.ptr), b.size) }

// Pointer is the block's address for native calls.
func (b *Block) Pointer() unsafe.Pointer { return b.ptr }

// Len is the size that was asked for.
func (b *Block) Len() int { return b.size }

// Release returns the block to its pool; it is safe to call twice. The
// caller must be sure no copy still reads or writes it.
func (b *Block) Release() error {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil
	}
	b.done = true
	b.mu.Unlock()
	p := b.pool
	p.mu.Lock()
	p.used -= int64(b.class)
	p.out--
	if !p.closed {
		p.free[b.class] = append(p.free[b.class], b.ptr)
		p.mu.Unlock()
		return nil
	}
	p.total -= int64(b.class)
	p.mu.Unlock()
	return OnDevice(p.rt, p.opts.Device, func() error { return p.rt.FreeHost(b.ptr) })
}

// Usage is what the nv_pinned_memory_pool_{total,used}_bytes gauges report:
// pinned bytes held, and the part of them handed out.
func (p *Pool) Usage() (total, used int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.used
}

// Outstanding is the number of blocks handed out and not yet released.
func (p *Pool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}

// Trim gives every cached block back to the driver.
func (p *Pool) Trim() {
	p.mu.Lock()
	var drop []unsafe.Pointer
	for c, list := range p.free {
		drop = append(drop, list...)
		p.total -= int64(c) * int64(len(list))
		delete(p.free, c)
	}
	p.mu.Unlock()
	p.freeAll(drop)
}

// Close frees the cached blocks; blocks still out are freed as they are
// released. It reports them, since a block outliving its pool is a leak
// in the making.
func (p *Pool) Close() error {
	p.Trim()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.out > 0 {
		return fmt.Errorf("pinned pool closed with %d blocks (%d bytes) still in use", p.out, p.used)
	}
	return nil
}
