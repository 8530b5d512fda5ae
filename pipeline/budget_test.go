package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestByteBudgetNeverOvershoots(t *testing.T) {
	for _, tc := range []struct {
		used, n, limit int64
		want           error // nil, ErrBusy or ErrTooLarge
	}{
		{0, 1, 1, nil},
		{0, 400, 400, nil},
		{300, 100, 400, nil},
		{300, 101, 400, ErrBusy},
		{400, 1, 400, ErrBusy},
		{0, 401, 400, ErrTooLarge},
		{399, 401, 400, ErrTooLarge}, // never fits: 413 even when busy
		{0, 0, 400, nil},
	} {
		b := NewByteBudget(tc.limit)
		b.used.Store(tc.used)
		err := b.Acquire(tc.n)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("Acquire(%d) with %d of %d in use = %v, want %v", tc.n, tc.used, tc.limit, err, tc.want)
		}
		want := tc.used
		if err == nil {
			want += tc.n
		}
		if b.InUse() != want {
			t.Fatalf("in use %d after Acquire(%d) with %d of %d, want %d", b.InUse(), tc.n, tc.used, tc.limit, want)
		}
		var tl *TooLargeError
		if errors.As(err, &tl) && (tl.Limit != tc.limit || tl.Got != tc.n || !strings.Contains(err.Error(), "--max-inflight-bytes")) {
			t.Fatalf("too-large error %+v (%v) does not name the bound", tl, err)
		}
	}

	// No bound: a nil budget admits anything.
	var none *ByteBudget = NewByteBudget(0)
	if none != nil || none.Acquire(1<<40) != nil || none.InUse() != 0 || none.Limit() != 0 {
		t.Fatal("a zero limit must mean no bound")
	}
	none.Release(5)

	// Many requesters at once against a small bound: a reader polling the
	// count never sees it above the bound, and every byte comes back.
	b := NewByteBudget(1000)
	stop := make(chan struct{})
	var peak atomic.Int64
	var wg, reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			peak.Store(max(peak.Load(), b.InUse()))
		}
	}()
	var admitted, refused atomic.Int64
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				n := int64(1 + (g*7+i)%300)
				switch err := b.Acquire(n); {
				case err == nil:
					admitted.Add(1)
					b.Release(n)
				case errors.Is(err, ErrBusy):
					refused.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	if p := max(peak.Load(), b.Peak()); p > 1000 {
		t.Fatalf("in-flight bytes reached %d, bound 1000", p)
	}
	if b.InUse() != 0 || admitted.Load() == 0 {
		t.Fatalf("in use %d after all released; %d admitted, %d refused", b.InUse(), admitted.Load(), refused.Load())
	}
}

// A request of more images than the queue holds can never be admitted: it
// fails whole with a TooLargeError naming the bound, at once (no Work
// runs), and counts as rejected; one that fits later is ErrBusy as before.
func TestDoRefusesRequestLargerThanQueue(t *testing.T) {
	for _, mode := range []Mode{Parallel, Serial} {
		t.Run(string(mode), func(t *testing.T) {
			eng := newFake()
			m := newTestModel(t, eng, 1, Options{Mode: mode, MaxQueueSize: 4})
			works := make([]Work, 5)
			ws := make([]*work, 5)
			for i := range works {
				ws[i] = &work{x: float32(i)}
				works[i] = ws[i]
			}
			errs := m.Do(context.Background(), works)
			for i, err := range errs {
				var tl *TooLargeError
				if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.Got != 5 || tl.Limit != 4 || tl.What != "images" {
					t.Fatalf("image %d: %v", i, err)
				}
				if ws[i].calls.Load() != 0 {
					t.Fatalf("image %d ran although the request was refused", i)
				}
			}
			if !strings.Contains(errs[0].Error(), "at most 4 images") || !strings.Contains(errs[0].Error(), "max_queue_size") {
				t.Fatalf("error does not name the bound: %v", errs[0])
			}
			if m.Stats.Rejected.Load() != 1 || m.QueueLen() != 0 {
				t.Fatalf("rejected %d, queue %d", m.Stats.Rejected.Load(), m.QueueLen())
			}
			// Exactly the queue's size still runs.
			for i, err := range m.Do(context.Background(), works[:4]) {
				if err != nil {
					t.Fatalf("image %d of 4: %v", i, err)
				}
			}
		})
	}
}
