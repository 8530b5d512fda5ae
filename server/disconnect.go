package server

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// fasthttp does not tell a handler that its client went away, so a
// request waiting in a model's queue would still be decoded and run for
// nobody. The watcher peeks, a few times a second, at the connection of
// every request waiting in the pipeline: a peek that reads end-of-file
// means the client closed it, and the request's context is cancelled,
// which drops it from the queue (or skips its postprocess) and frees its
// slot. One goroutine serves all requests; it idles when none wait.
type watcher struct {
	interval time.Duration
	mu       sync.Mutex // guards watched and running
	watched  map[*watch]struct{}
	running  bool
}

type watch struct {
	raw    syscall.RawConn
	cancel context.CancelCauseFunc
}

// errClientGone is the cause of a context cancelled by the watcher.
var errClientGone = context.Canceled

func newWatcher(interval time.Duration) *watcher {
	return &watcher{interval: interval, watched: map[*watch]struct{}{}}
}

// add watches conn until the returned stop is called; cancel runs when the
// peer has closed.
func (w *watcher) add(conn net.Conn, cancel context.CancelCauseFunc) (stop func()) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	e := &watch{raw: raw, cancel: cancel}
	w.mu.Lock()
	w.watched[e] = struct{}{}
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.watched, e)
		w.mu.Unlock()
	}
}

func (w *watcher) loop() {
	var batch []*watch
	for {
		time.Sleep(w.interval)
		w.mu.Lock()
		if len(w.watched) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch = batch[:0]
		for e := range w.watched {
			batch = append(batch, e)
		}
		w.mu.Unlock()
		for _, e := range batch {
			if peerClosed(e.raw) {
				e.cancel(errClientGone)
			}
		}
	}
}

// peerClosed peeks one byte without consuming it or blocking: 0 bytes
// means the peer sent FIN; data (a pipelined request) or EAGAIN mean it is
// still there.
func peerClosed(raw syscall.RawConn) bool {
	var closed bool
	var b [1]byte
	raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || err == syscall.ECONNRESET
	})
	return closed
}
