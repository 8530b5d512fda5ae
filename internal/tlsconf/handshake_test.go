package tlsconf

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trtserve/trtserve/internal/tlsconf/tlstest"
)

// Every kind of failed handshake on a Listener is reported with the
// client's address, once; a client that leaves before starting one (a TCP
// probe) and a good handshake are not. The test server takes one
// connection at a time, so each case's report (or its absence) is known
// before the next case starts.
func TestListenerReportsFailedHandshakes(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	cert, key := ca.Server(t, 1).Write(t, dir)
	caFile := dir + "/ca.pem"
	tlstest.WriteFile(t, caFile, ca.PEM)
	c, err := Load(Files{Cert: cert, Key: key, ClientCA: caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Each failure logged (no interval): the line says what failed, for
	// which client.
	var logs bytes.Buffer
	h := NewHandshakeFailures(slog.New(slog.NewTextHandler(&logs, nil)), 0)
	ln := Listener(inner, c.Config(), h.Report)
	t.Cleanup(func() { ln.Close() })
	served := make(chan struct{})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 1)
			if _, err := conn.Read(b); err == nil {
				conn.Write(b)
			}
			conn.Close()
			served <- struct{}{}
		}
	}()
	good := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{ca.Client(t, 2, "client").TLS(t)}}
	cases := []struct {
		name   string
		client func(addr string)
		want   string // "" = not reported; else a substring of the error
	}{
		{"a good handshake", func(addr string) {
			if _, err := dial(addr, good); err != nil {
				t.Errorf("good client: %v", err)
			}
		}, ""},
		{"a TCP probe (connect, close)", func(addr string) {
			if conn, err := net.Dial("tcp", addr); err == nil {
				conn.Close()
			}
		}, ""},
		{"plain HTTP on the TLS port", func(addr string) {
			if conn, err := net.Dial("tcp", addr); err == nil {
				io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				io.Copy(io.Discard, conn)
				conn.Close()
			}
		}, "does not look like a TLS handshake"},
		{"no client certificate under mutual TLS", func(addr string) {
			dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		}, "certificate"},
		{"TLS 1.1 only", func(addr string) {
			dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		}, "version"},
	}
	var total int64
	for _, tc := range cases {
		logs.Reset()
		tc.client(inner.Addr().String())
		<-served
		if tc.want != "" {
			total++
		}
		if got := h.Total(); got != total {
			t.Errorf("%s: %d failures counted, want %d (log: %s)", tc.name, got, total, logs.String())
		}
		line := logs.String()
		switch {
		case tc.want == "" && line != "":
			t.Errorf("%s: logged %s", tc.name, line)
		case tc.want != "" && (!strings.Contains(line, tc.want) || !strings.Contains(line, "remote=127.0.0.1:")):
			t.Errorf("%s: logged %q, want the client's address and %q", tc.name, line, tc.want)
		}
	}
}

// A burst of failures logs one line per interval, with the count of those
// not logged, and counts them all; clients that left before a handshake
// are neither logged nor counted.
func TestHandshakeFailuresLogOncePerInterval(t *testing.T) {
	var logs bytes.Buffer
	h := NewHandshakeFailures(slog.New(slog.NewTextHandler(&logs, nil)), 10*time.Second)
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4242}
	bad := errors.New("tls: first record does not look like a TLS handshake")
	steps := []struct {
		at    time.Duration // since the start
		err   error
		lines int   // "TLS handshake failed" lines so far
		total int64 // counted so far
	}{
		{0, bad, 1, 1},
		{time.Second, bad, 1, 2},
		{2 * time.Second, io.EOF, 1, 2},
		{3 * time.Second, syscall.ECONNRESET, 1, 2},
		{9 * time.Second, bad, 1, 3},
		{11 * time.Second, bad, 2, 4},
	}
	for i, s := range steps {
		now = time.Unix(1000, 0).Add(s.at)
		h.Report(remote, s.err)
		if got := strings.Count(logs.String(), "TLS handshake failed"); got != s.lines {
			t.Errorf("step %d: %d lines logged, want %d", i, got, s.lines)
		}
		if got := h.Total(); got != s.total {
			t.Errorf("step %d: total %d, want %d", i, got, s.total)
		}
	}
	if !strings.Contains(logs.String(), "not_logged_since_last=2") || !strings.Contains(logs.String(), "remote=10.0.0.7:4242") {
		t.Errorf("the second line must say how many were not logged, and each the client:\n%s", logs.String())
	}
}
