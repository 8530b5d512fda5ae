package grpcserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/internal/tlsconf"
	"github.com/trtserve/trtserve/internal/tlsconf/tlstest"
)

// serveTCP serves the test repository on a loopback TCP port (a real
// socket: the bufconn harness has no TLS or keepalive to speak of) until
// the test ends, and returns its address.
func serveTCP(t *testing.T, opts Options) string {
	t.Helper()
	srv := New(testManager(t), opts, slog.New(slog.DiscardHandler), func() bool { return true })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// rawHTTP2 connects to a server as a bare HTTP/2 client (preface and
// SETTINGS, no streams), so a test controls every PING it sends and every
// one it answers, which grpc-go's client does not let a test do.
func rawHTTP2(t *testing.T, ka Keepalive) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", serveTCP(t, Options{Keepalive: ka}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A hang fails the test instead of the suite's timeout.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// serverFrames reads frames until the server sends GOAWAY, closes the
// connection, or has sent maxPings PINGs (0: no such bound), acking its
// SETTINGS and answering its PINGs when answer is set. It returns the
// GOAWAY (nil when there was none) and the server's PINGs seen.
func serverFrames(t *testing.T, fr *http2.Framer, answer bool, maxPings int) (*http2.GoAwayFrame, int) {
	t.Helper()
	pings := 0
	for maxPings == 0 || pings < maxPings {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return nil, pings
		}
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if f.IsAck() {
				continue
			}
			pings++
			if answer {
				fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			return f, pings
		}
	}
	return nil, pings
}

// Keepalive enforcement (--grpc-keepalive-min-ping-interval and
// --grpc-keepalive-permit-without-calls): a client that pings more often
// than the server permits is sent GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings" and dropped, so a misconfigured client cannot keep the
// server busy answering pings.
func TestKeepaliveRefusesTooManyPings(t *testing.T) {
	cases := []struct {
		name string
		ka   Keepalive
	}{
		{"no call in progress (default policy)", Keepalive{}},
		{"calls not needed, but faster than the interval", Keepalive{MinPingInterval: time.Hour, PermitWithoutCalls: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fr := rawHTTP2(t, tc.ka)
			for i := range 5 {
				if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
					break // the server may already have closed
				}
			}
			ga, _ := serverFrames(t, fr, true, 0)
			if ga == nil {
				t.Fatal("the connection closed without GOAWAY")
			}
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || !bytes.Equal(ga.DebugData(), []byte("too_many_pings")) {
				t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM \"too_many_pings\"", ga.ErrCode, ga.DebugData())
			}
		})
	}
}

// Keepalive probing (--grpc-keepalive-time and --grpc-keepalive-timeout):
// the server pings an idle client and closes the connection of one that
// does not answer within the timeout, so a peer that vanished without a
// FIN (a dead node, a dropped NAT entry) does not hold its connection and
// streams forever. One that answers stays connected.
func TestKeepaliveClosesDeadClients(t *testing.T) {
	// grpc-go's floor for the server's ping interval is one second.
	t.Run("silent client is closed", func(t *testing.T) {
		fr := rawHTTP2(t, Keepalive{Time: time.Second, Timeout: 500 * time.Millisecond})
		if _, pings := serverFrames(t, fr, false, 0); pings == 0 {
			t.Fatal("the connection closed before the server pinged it")
		}
	})
	t.Run("answering client stays", func(t *testing.T) {
		// Three pings answered and no GOAWAY: the server kept probing
		// instead of closing. The read ends at the third ping, not at a
		// measured time. The timeout is longer than rawHTTP2's deadline,
		// so a busy machine's slow answer cannot close the connection,
		// and a ping never answered fails the test at that deadline
		// instead of drawing a second ping.
		fr := rawHTTP2(t, Keepalive{Time: time.Second, Timeout: time.Hour})
		if ga, pings := serverFrames(t, fr, true, 3); ga != nil || pings < 3 {
			t.Fatalf("after %d answered pings: GOAWAY %v; want three pings and no GOAWAY", pings, ga)
		}
	})
}

// A failed TLS handshake on the gRPC port is reported (grpc-go would drop
// it silently), and clients that complete theirs are served.
func TestTLSHandshakeFailuresAreReported(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	cert, key := ca.Server(t, 1).Write(t, t.TempDir())
	certs, err := tlsconf.Load(tlsconf.Files{Cert: cert, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 4)
	addr := serveTCP(t, Options{TLS: certs.Config(), TLSHandshakeFailed: func(_ net.Addr, err error) { failed <- err }})

	plain, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	io.WriteString(plain, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") // a plain-text gRPC client
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "TLS handshake") {
			t.Fatalf("reported %v", err)
		}
	case <-time.After(time.Minute): // bounds a failure only
		t.Fatal("a plain-text client on the TLS port was not reported")
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := pb.NewGRPCInferenceServiceClient(conn).ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil {
		t.Fatalf("a TLS client: %v", err)
	}
}
