package cuda_test

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
)

func TestPoolReuseAndAccounting(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	p := cuda.NewPool(m, cuda.PoolOptions{})
	a, err := p.Get(5000)
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 5000 || len(a.Bytes()) != 5000 {
		t.Fatalf("len %d", a.Len())
	}
	a.Bytes()[4999] = 7
	if total, used := p.Usage(); total != 8<<10 || used != 8<<10 {
		t.Fatalf("usage %d/%d", total, used)
	}
	ptr := a.Pointer()
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil { // twice is fine
		t.Fatal(err)
	}
	if total, used := p.Usage(); total != 8<<10 || used != 0 {
		t.Fatalf("after release %d/%d", total, used)
	}
	b, _ := p.Get(6000) // same class: the cached block comes back
	if b.Pointer() != ptr {
		t.Fatal("block not reused")
	}
	if s := m.Stats(); s.HostAllocs != 1 {
		t.Fatalf("%d host allocations, want 1", s.HostAllocs)
	}
	b.Release()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.HostAllocs != 0 || s.HostBytes != 0 {
		t.Fatalf("leak after close: %+v", s)
	}
}

func TestPoolBudget(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	var log bytes.Buffer
	p := cuda.NewPool(m, cuda.PoolOptions{Budget: 64 << 10, Log: slog.New(slog.NewTextHandler(&log, nil))})
	a, err := p.Get(32 << 10)
	if err != nil {
		t.Fatal(err)
	}
	small, err := p.Get(16 << 10)
	if err != nil {
		t.Fatal(err)
	}
	small.Release() // cached: 48 KiB held
	// 32 KiB more fits only after the cached 16 KiB block is given back.
	b, err := p.Get(32 << 10)
	if err != nil {
		t.Fatalf("cached blocks were not trimmed to make room: %v", err)
	}
	if total, _ := p.Usage(); total != 64<<10 {
		t.Fatalf("held %d", total)
	}
	_, err = p.Get(1)
	if !errors.Is(err, cuda.ErrPoolExhausted) || !strings.Contains(err.Error(), "--pinned-memory-pool-bytes") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "exhausted") {
		t.Fatalf("no loud log line: %q", log.String())
	}
	a.Release()
	b.Release()
	if _, err := p.Get(1); err != nil {
		t.Fatal(err)
	}
}

func TestPoolHostAllocFailure(t *testing.T) {
	m := &cudamock.Mock{Devices: 1, HostLimit: 8 << 10}
	defer m.Close()
	p := cuda.NewPool(m, cuda.PoolOptions{})
	if _, err := p.Get(16 << 10); err == nil || !errors.Is(err, cuda.ErrCUDA) {
		t.Fatalf("err = %v", err)
	}
	if total, used := p.Usage(); total != 0 || used != 0 || p.Outstanding() != 0 {
		t.Fatalf("failed alloc left %d/%d/%d", total, used, p.Outstanding())
	}
}

// Ten thousand cycles of mixed sizes from several goroutines leave nothing
// behind, by the pool's accounting and by the mock's own count.
func TestPoolNoLeak(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	p := cuda.NewPool(m, cuda.PoolOptions{Budget: 128 << 20}) // 4 goroutines × an 18 MiB class at most
	var wg sync.WaitGroup
	sizes := []int{1, 4096, 70_000, 1 << 20, 3 << 20, 17 << 20}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2500 {
				b, err := p.Get(sizes[(i+g)%len(sizes)])
				if err != nil {
					t.Error(err)
					return
				}
				b.Bytes()[0] = byte(i)
				b.Release()
			}
		}()
	}
	wg.Wait()
	if _, used := p.Usage(); used != 0 || p.Outstanding() != 0 {
		t.Fatalf("in use after 10000 cycles: %d bytes, %d blocks", used, p.Outstanding())
	}
	if s := m.Stats(); s.HostAllocs > 4*len(sizes) {
		t.Fatalf("%d live host allocations: blocks are not reused", s.HostAllocs)
	}
	p.Close()
	if s := m.Stats(); s.HostAllocs != 0 || s.HostBytes != 0 {
		t.Fatalf("leak: %+v", s)
	}
}

func TestPoolCloseWithBlocksOut(t *testing.T) {
	m := cudamock.New(1)
	defer m.Close()
	p := cuda.NewPool(m, cuda.PoolOptions{})
	b, _ := p.Get(100)
	if err := p.Close(); err == nil {
		t.Fatal("close with a block out did not complain")
	}
	if _, err := p.Get(1); !errors.Is(err, cuda.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	b.Release()
	if s := m.Stats(); s.HostAllocs != 0 {
		t.Fatalf("late release did not free: %+v", s)
	}
}

// Under --gpu 1 the pinned pool must create no context on GPU 0, whichever
// goroutine allocates and releases.
func TestPoolTouchesOnlyItsDevice(t *testing.T) {
	m := &cudamock.Mock{Devices: 2}
	defer m.Close()
	pool := cuda.NewPool(m, cuda.PoolOptions{Device: 1})
	var blocks []*cuda.Block
	for _, n := range []int{100, 5000, 20 << 20} {
		b, err := pool.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	blocks[0].Release()
	pool.Trim()
	if _, err := pool.Get(100); err != nil {
		t.Fatal(err)
	}
	if err := pool.Close(); err == nil {
		t.Fatal("closing with blocks out must say so")
	}
	for _, b := range blocks[1:] {
		if err := b.Release(); err != nil { // freed at once: the pool is closed
			t.Fatal(err)
		}
	}
	if c := m.Contexts(); !reflect.DeepEqual(c, []int{1}) {
		t.Fatalf("contexts on devices %v, want only [1]", c)
	}
}
