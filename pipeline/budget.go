package pipeline

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrTooLarge is the error of a request that can never be admitted: more
// images than the model's queue holds, or more bytes than the server's
// in-flight bound. Unlike ErrBusy, retrying cannot help (HTTP 413, not
// 429). The error is a *TooLargeError, which names the bound.
var ErrTooLarge = errors.New("request can never be admitted")

// TooLargeError says which bound a request exceeds for good.
type TooLargeError struct {
	What  string // "images" or "bytes"
	Got   int64  // the request's
	Limit int64  // the bound's
	Bound string // the setting that sets the bound, as the operator writes it
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the request holds %d %s; this server admits at most %d %s per request (%s)", e.Got, e.What, e.Limit, e.What, e.Bound)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ErrInflightFull is ByteBudget's ErrBusy: the requests admitted now hold
// the bound. errors.Is(err, ErrBusy) holds for it, so every route answers
// it as it answers a full queue (429, RESOURCE_EXHAUSTED); its message
// names the bound to wait on, for every protocol alike.
var ErrInflightFull error = inflightFull{}

type inflightFull struct{}

func (inflightFull) Error() string {
	return "the server holds as many request bytes as --max-inflight-bytes allows: retry later"
}

func (inflightFull) Is(target error) bool { return target == ErrBusy }

// ByteBudget bounds the bytes that admitted requests hold while they wait
// and run (--max-inflight-bytes), shared by every model and route of a
// server. What a request holds is counted once, at admission, by the
// protocol adapter that knows it (the request body: encoded images, kept
// once, base64 decoded only in the decode worker); it is released when the
// request's answer is ready. Decoded pixels are not counted per request:
// an image is decoded only once it has a batch slot, so they are bounded by
// the decode workers and the batch slots, not by the requests waiting.
//
// A request that does not fit now is refused at once (ErrInflightFull, an
// ErrBusy: 429), as
// the images bound refuses: its body is already in memory, and waiting
// would hold it, so refusing is what frees it. A request larger than the
// bound itself is refused with a *TooLargeError (413).
//
// A nil *ByteBudget admits everything.
type ByteBudget struct {
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

// NewByteBudget bounds admitted bytes to limit; limit <= 0 means no bound
// (a nil budget).
func NewByteBudget(limit int64) *ByteBudget {
	if limit <= 0 {
		return nil
	}
	return &ByteBudget{limit: limit}
}

// Acquire reserves n bytes for a request, or fails without reserving
// anything: a *TooLargeError when n exceeds the bound itself,
// ErrInflightFull when it does not fit beside the requests admitted now. Like the images bound
// it never adds and takes back, so InUse never reads above Limit.
func (b *ByteBudget) Acquire(n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if n > b.limit {
		return &TooLargeError{What: "bytes", Got: n, Limit: b.limit, Bound: "--max-inflight-bytes"}
	}
	for {
		cur := b.used.Load()
		if cur+n > b.limit {
			return ErrInflightFull
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			for p := b.peak.Load(); cur+n > p && !b.peak.CompareAndSwap(p, cur+n); p = b.peak.Load() {
			}
			return nil
		}
	}
}

// Release returns n bytes a successful Acquire reserved.
func (b *ByteBudget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
}

// Limit is the bound in bytes (0: none).
func (b *ByteBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// InUse is the bytes admitted requests hold now.
func (b *ByteBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Peak is the most bytes admitted requests have held at once.
func (b *ByteBudget) Peak() int64 {
	if b == nil {
		return 0
	}
	return b.peak.Load()
}
