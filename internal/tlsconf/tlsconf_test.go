package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/internal/tlsconf/tlstest"
)

func TestLoad(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	a, b := ca.Server(t, 0xA), ca.Server(t, 0xB)
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certA, keyA, keyB := file("a.pem", a.Cert), file("a.key", a.Key), file("b.key", b.Key)
	caFile := file("ca.pem", ca.PEM)
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name  string
		files Files
		want  string // "" = loads; else a substring of the error
		mtls  bool
	}{
		{name: "off", files: Files{}},
		{name: "good pair", files: Files{Cert: certA, Key: keyA}},
		{name: "good pair and client CA", files: Files{Cert: certA, Key: keyA, ClientCA: caFile}, mtls: true},
		{name: "mismatched pair", files: Files{Cert: certA, Key: keyB}, want: "private key does not match public key"},
		{name: "missing cert", files: Files{Cert: missing, Key: keyA}, want: "missing.pem"},
		{name: "missing key", files: Files{Cert: certA, Key: missing}, want: "missing.pem"},
		{name: "key as cert", files: Files{Cert: keyA, Key: keyA}, want: "a.key"},
		{name: "cert without key", files: Files{Cert: certA}, want: "--tls-cert and --tls-key"},
		{name: "key without cert", files: Files{Key: keyA}, want: "--tls-cert and --tls-key"},
		{name: "client CA alone", files: Files{ClientCA: caFile}, want: "--tls-client-ca needs --tls-cert"},
		{name: "missing client CA", files: Files{Cert: certA, Key: keyA, ClientCA: missing}, want: "client CA"},
		{name: "client CA not PEM", files: Files{Cert: certA, Key: keyA, ClientCA: file("junk.pem", []byte("junk"))}, want: "no PEM certificate"},
		{name: "client CA holds a key", files: Files{Cert: certA, Key: keyA, ClientCA: keyA}, want: `"PRIVATE KEY", want CERTIFICATE`},
		{name: "client CA with a bad certificate", files: Files{Cert: certA, Key: keyA,
			ClientCA: file("bad.pem", append(append([]byte{}, ca.PEM...), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"...))}, want: "certificate 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.files, nil)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want one with %q", err, tc.want)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.files.Enabled():
				if c != nil {
					t.Fatal("no files: want TLS off (nil)")
				}
			default:
				if got := c.Leaf().SerialNumber.Int64(); got != a.Serial {
					t.Errorf("serial %X, want %X", got, a.Serial)
				}
				cfg, _ := c.Config().GetConfigForClient(nil)
				if mtls := cfg.ClientAuth == tls.RequireAndVerifyClientCert; mtls != tc.mtls || cfg.MinVersion != tls.VersionTLS12 {
					t.Errorf("client auth %v, min version %x: want mutual TLS %v and TLS 1.2", cfg.ClientAuth, cfg.MinVersion, tc.mtls)
				}
			}
		})
	}
}

// serve accepts TLS connections with cfg and completes their handshakes
// until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				b := make([]byte, 1)
				if tc.Handshake() == nil {
					if _, err := tc.Read(b); err == nil {
						tc.Write(b) // echo one byte
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes with the server and returns the serial it presented.
func dial(addr string, cfg *tls.Config) (int64, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// A TLS 1.3 server refuses a client certificate after the client's
	// side of the handshake is done: one byte there and back shows it.
	if _, err := c.Write([]byte{0}); err != nil {
		return 0, err
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return 0, err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// reloadFixture is a CA, its serial-1 server pair written to dir, loaded with
// the log going to logs: the start of each reload test.
func reloadFixture(t *testing.T) (ca *tlstest.CA, dir, cert, key string, c *Certs, logs *bytes.Buffer) {
	t.Helper()
	ca = tlstest.NewCA(t, "test CA")
	dir = t.TempDir()
	cert, key = ca.Server(t, 1).Write(t, dir)
	logs = &bytes.Buffer{}
	c, err := Load(Files{Cert: cert, Key: key}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir, cert, key, c, logs
}

func TestReload(t *testing.T) {
	ca, dir, cert, key, c, logs := reloadFixture(t)
	addr := serve(t, c.Config())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	other := ca.Server(t, 3)
	steps := []struct {
		name    string
		prepare func()
		fails   string // "" = the reload succeeds
		serial  int64  // served after the step
	}{
		{"nothing changed", func() {}, "", 1},
		{"new pair", func() { ca.Server(t, 2).Write(t, dir) }, "", 2},
		{"key replaced, certificate not yet", func() { tlstest.WriteFile(t, key, other.Key) }, "private key does not match", 2},
		{"certificate replaced too", func() { tlstest.WriteFile(t, cert, other.Cert) }, "", 3},
		{"certificate deleted", func() { os.Remove(cert) }, "no such file", 3},
		{"certificate garbage", func() { tlstest.WriteFile(t, cert, []byte("garbage")) }, "failed to find any PEM data", 3},
		{"good files again", func() { ca.Server(t, 4).Write(t, dir) }, "", 4},
	}
	for _, s := range steps {
		s.prepare()
		err := c.Reload()
		if (err == nil) != (s.fails == "") || err != nil && !strings.Contains(err.Error(), s.fails) {
			t.Errorf("%s: reload error %v, want one with %q", s.name, err, s.fails)
		}
		if got := c.Leaf().SerialNumber.Int64(); got != s.serial {
			t.Errorf("%s: Leaf serial %d, want %d", s.name, got, s.serial)
		}
		got, err := dial(addr, client)
		if err != nil || got != s.serial {
			t.Errorf("%s: a new connection got serial %d (%v), want %d", s.name, got, err, s.serial)
		}
	}
	if !strings.Contains(logs.String(), "TLS reload failed: still serving the previous certificate") {
		t.Errorf("a failed reload must be logged with its reason; logs:\n%s", logs.String())
	}
}

func TestMutualTLS(t *testing.T) {
	ca, stranger := tlstest.NewCA(t, "client CA"), tlstest.NewCA(t, "another CA")
	dir := t.TempDir()
	cert, key := ca.Server(t, 1).Write(t, dir)
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	c, err := Load(Files{Cert: cert, Key: key, ClientCA: caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c.Config())
	signed, unsigned := ca.Client(t, 10, "good client"), stranger.Client(t, 11, "stranger")
	for _, tc := range []struct {
		name    string
		certs   []tls.Certificate
		version uint16 // max version; 0 = Go's
		ok      bool
	}{
		{"no client certificate", nil, 0, false},
		{"no client certificate, TLS 1.2", nil, tls.VersionTLS12, false},
		{"certificate of another CA", []tls.Certificate{unsigned.TLS(t)}, 0, false},
		{"certificate of the client CA", []tls.Certificate{signed.TLS(t)}, 0, true},
		{"certificate of the client CA, TLS 1.2", []tls.Certificate{signed.TLS(t)}, tls.VersionTLS12, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: tc.certs, MaxVersion: tc.version})
			if (err == nil) != tc.ok {
				t.Errorf("handshake error %v, want success %v", err, tc.ok)
			}
		})
	}
	// The client CA is reread on reload too: trust the other CA instead
	// and its client passes, the first CA's fails.
	tlstest.WriteFile(t, caFile, stranger.PEM)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{unsigned.TLS(t)}}); err != nil {
		t.Errorf("after reloading the client CA, its client must pass: %v", err)
	}
	if _, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{signed.TLS(t)}}); err == nil {
		t.Error("after reloading the client CA, a client of the CA no longer trusted must fail")
	}
}

func TestMinVersion(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	cert, key := ca.Server(t, 1).Write(t, t.TempDir())
	c, err := Load(Files{Cert: cert, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c.Config())
	for _, tc := range []struct {
		version uint16
		ok      bool
	}{{tls.VersionTLS10, false}, {tls.VersionTLS11, false}, {tls.VersionTLS12, true}, {tls.VersionTLS13, true}} {
		_, err := dial(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tc.version, MaxVersion: tc.version})
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tls.VersionName(tc.version), err, tc.ok)
		}
	}
}

// Reloads while clients connect: every handshake completes with one whole
// pair, the old or the new (run it with -race).
func TestReloadDuringHandshakes(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	pairs := []tlstest.Pair{ca.Server(t, 1), ca.Server(t, 2)}
	cert, key := pairs[0].Write(t, dir)
	c, err := Load(Files{Cert: cert, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c.Config())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	stop := make(chan struct{})
	reloads := make(chan int)
	go func() {
		n := 0
		defer func() { reloads <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			pairs[n%2].Write(t, dir)
			if err := c.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	const clients, dials = 4, 25
	errs := make(chan error, clients*dials)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range dials {
				serial, err := dial(addr, client)
				if err == nil && serial != 1 && serial != 2 {
					err = fmt.Errorf("serial %d", serial)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(stop)
	t.Logf("%d reloads during %d handshakes", <-reloads, clients*dials)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// Each look of Watch reloads files that changed and loads, ignores files
// that did not change, and logs files that changed but do not load once,
// not at every look, until they change again.
func TestWatchCheck(t *testing.T) {
	ca, dir, cert, key, c, logs := reloadFixture(t)
	other, third := ca.Server(t, 3), ca.Server(t, 5)
	steps := []struct {
		name     string
		prepare  func()
		reloaded bool
		failures int   // "TLS reload failed" lines so far
		serial   int64 // served after the step
	}{
		{"nothing changed", func() {}, false, 0, 1},
		{"new pair", func() { ca.Server(t, 2).Write(t, dir) }, true, 0, 2},
		{"the same files rewritten", func() { tlstest.WriteFile(t, key, mustRead(t, key)) }, false, 0, 2},
		{"key replaced, certificate not yet", func() { tlstest.WriteFile(t, key, other.Key) }, false, 1, 2},
		{"still half-written: not logged again", func() {}, false, 1, 2},
		{"certificate replaced too", func() { tlstest.WriteFile(t, cert, other.Cert) }, true, 1, 3},
		{"certificate deleted", func() { os.Remove(cert) }, false, 2, 3},
		{"still deleted", func() {}, false, 2, 3},
		{"good files again", func() { ca.Server(t, 4).Write(t, dir) }, true, 2, 4},
		{"another half-written pair", func() { tlstest.WriteFile(t, key, third.Key) }, false, 3, 4},
	}
	for _, s := range steps {
		s.prepare()
		if got := c.check(); got != s.reloaded {
			t.Errorf("%s: check reloaded %v, want %v", s.name, got, s.reloaded)
		}
		if got := strings.Count(logs.String(), "TLS reload failed"); got != s.failures {
			t.Errorf("%s: %d failures logged, want %d", s.name, got, s.failures)
		}
		if got := c.Leaf().SerialNumber.Int64(); got != s.serial {
			t.Errorf("%s: serving serial %d, want %d", s.name, got, s.serial)
		}
	}
}

// Watch finds a rotation made the way the kubelet updates a Secret
// volume: the files are links through a "..data" link to a timestamped
// folder, and a rotation writes a new folder and swaps "..data" by rename.
// New connections get the new certificate with no signal sent.
func TestWatchFollowsASecretVolume(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	dir := t.TempDir()
	version := func(name string, p tlstest.Pair) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		tlstest.WriteFile(t, filepath.Join(dir, name, "tls.crt"), p.Cert)
		tlstest.WriteFile(t, filepath.Join(dir, name, "tls.key"), p.Key)
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_03_01", ca.Server(t, 1))
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(Files{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx, 10*time.Millisecond)
	addr := serve(t, c.Config())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	version("..2026_12_03_02", ca.Server(t, 2))
	// The deadline only bounds a failure; the rotation shows within a few
	// looks.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		got, err := dial(addr, client)
		if err == nil && got == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new connection still gets serial %d (%v) after the Secret's rotation", got, err)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
