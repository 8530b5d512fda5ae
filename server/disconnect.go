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
// nobody. The watcher looks, a few times a second, at the socket of every
// request waiting in the pipeline (under TLS, the TCP socket beneath it):
// when the client has closed it, the request's context is cancelled,
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
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = tc.NetConn() // *tls.Conn: its socket is the one to watch
	}
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
