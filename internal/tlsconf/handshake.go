package tlsconf

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// HandshakeFailures logs and counts the TLS handshakes that fail on the
// server's ports: a client without the CA, a plain-text client on the TLS
// port, an old TLS version, a client certificate refused under mutual TLS.
// Without it they fail silently (fasthttp and grpc-go drop them), and an
// operator has no way to tell a misconfigured client from a quiet one.
// One line per interval at most, with the count of those not logged, so
// a scanner or a broken client in a loop cannot flood the log; every
// failure is counted (Total, trtserve_tls_handshake_failures_total).
type HandshakeFailures struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time // time.Now; tests step it

	total      atomic.Int64
	mu         sync.Mutex
	last       time.Time // of the last line logged
	suppressed int64     // failures since, not logged
}

// NewHandshakeFailures logs at most one line per every.
func NewHandshakeFailures(log *slog.Logger, every time.Duration) *HandshakeFailures {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HandshakeFailures{log: log, every: every, now: time.Now}
}

// Report takes one failed handshake. A client that closed or reset the
// connection before sending a byte of it is not a failure: that is what
// TCP probes (Kubernetes' tcpSocket), load balancers' health checks and
// port scans do.
func (h *HandshakeFailures) Report(remote net.Addr, err error) {
	if err == nil || leftBeforeHandshake(err) {
		return
	}
	h.total.Add(1)
	h.mu.Lock()
	now := h.now()
	if !h.last.IsZero() && now.Sub(h.last) < h.every {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	suppressed := h.suppressed
	h.last, h.suppressed = now, 0
	h.mu.Unlock()
	h.log.Warn("TLS handshake failed", "remote", addr(remote), "err", err, "not_logged_since_last", suppressed)
}

// Total is the failures reported since the start.
func (h *HandshakeFailures) Total() int64 { return h.total.Load() }

func leftBeforeHandshake(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

func addr(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Listener is tls.NewListener whose connections report a failed
// handshake to failed. The handshake still happens where it did, on the
// connection's first read or write (under the server's read deadline), in
// the goroutine serving that connection, never in Accept.
func Listener(inner net.Listener, cfg *tls.Config, failed func(net.Addr, error)) net.Listener {
	return &listener{Listener: inner, cfg: cfg, failed: failed}
}

type listener struct {
	net.Listener
	cfg    *tls.Config
	failed func(net.Addr, error)
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: tls.Server(c, l.cfg), failed: l.failed}, nil
}

// conn is a *tls.Conn (its ConnectionState, NetConn, ... are those of
// the embedded one) that reports its handshake's failure once.
type conn struct {
	*tls.Conn
	failed func(net.Addr, error)
	once   sync.Once
}

func (c *conn) handshake() {
	c.once.Do(func() {
		if err := c.Conn.Handshake(); err != nil {
			c.failed(c.RemoteAddr(), err)
		}
	})
}

func (c *conn) Read(b []byte) (int, error) {
	c.handshake()
	return c.Conn.Read(b)
}

func (c *conn) Write(b []byte) (int, error) {
	c.handshake()
	return c.Conn.Write(b)
}
