package tlsconf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MinVersion is the oldest TLS version served.
const MinVersion = tls.VersionTLS12

// Files names the PEM files: Cert (the certificate, then any
// intermediates) and Key together, ClientCA (one or more CA certificates)
// optionally.
type Files struct {
	Cert, Key, ClientCA string
}

// Enabled reports whether any file is named.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.ClientCA != "" }

// Check refuses a half-configured set: a certificate without its key or a
// key without its certificate, or a client CA without either.
func (f Files) Check() error {
	switch {
	case (f.Cert == "") != (f.Key == ""):
		return fmt.Errorf("--tls-cert and --tls-key go together: got tls-cert %q and tls-key %q", f.Cert, f.Key)
	case f.ClientCA != "" && f.Cert == "":
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	return nil
}

// Certs is the certificate being served, reloadable.
type Certs struct {
	files Files
	log   *slog.Logger
	mu    sync.Mutex // one Reload at a time
	cur   atomic.Pointer[loaded]
	// refused is the digest of the last contents Watch found changed but
	// could not load: it is not tried (nor logged) again until the files
	// change once more.
	refused [sha256.Size]byte
}

// loaded is one successful read of the files.
type loaded struct {
	config *tls.Config // what handshakes use: the pair and the client CAs
	leaf   *x509.Certificate
	digest [sha256.Size]byte // of the files' bytes it was built from
}

// Load reads the files. With no file named it returns nil and no error:
// TLS is off.
func Load(f Files, log *slog.Logger) (*Certs, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := f.load()
	if err != nil {
		return nil, err
	}
	c := &Certs{files: f, log: log}
	c.cur.Store(l)
	log.Info("TLS on", l.attrs(f)...)
	return c, nil
}

// Config is the *tls.Config for a listener: each handshake gets the
// current certificate and client CAs (GetConfigForClient), so a Reload
// reaches new connections of every listener built from it. grpc's
// credentials.NewTLS accepts it as is (it adds h2 to the per-client
// configuration too).
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			// The same pointer until the next reload: crypto/tls only reads
			// it, and session tickets keep working between reloads.
			return c.cur.Load().config, nil
		},
	}
}

// Leaf is the certificate served now.
func (c *Certs) Leaf() *x509.Certificate { return c.cur.Load().leaf }

// Reload rereads the files. On success new handshakes use them;
// connections already open keep the certificate they were made with. On
// failure the certificate in use stays, the error (logged too) says why.
func (c *Certs) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.swap(c.files.load())
}

// Watch rereads the files every interval until ctx is done and reloads
// when their bytes differ from those being served: a Kubernetes Secret
// volume (or cert-manager, or certbot) replaces them and nobody sends
// SIGHUP. Contents that do not load are logged once and tried again only
// when they change, so a half-written pair costs one error line, not one
// a tick.
func (c *Certs) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.check()
		}
	}
}

// check is one look of Watch: it reports whether it reloaded.
func (c *Certs) check() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.files.read()
	d := r.digest()
	if err != nil {
		d = sha256.Sum256([]byte(err.Error())) // a missing file: once per distinct error
	}
	if d == c.cur.Load().digest || d == c.refused {
		return false
	}
	if err == nil {
		var l *loaded
		if l, err = r.parse(c.files); err == nil {
			c.swap(l, nil)
			return true
		}
	}
	c.refused = d
	c.swap(nil, err)
	return false
}

// swap serves l, or on err keeps what is served and logs why.
func (c *Certs) swap(l *loaded, err error) error {
	old := c.cur.Load()
	if err != nil {
		c.log.Error("TLS reload failed: still serving the previous certificate", "err", err,
			"serial", serial(old.leaf.SerialNumber), "not_after", old.leaf.NotAfter.UTC().Format(time.RFC3339))
		return err
	}
	c.cur.Store(l)
	c.refused = [sha256.Size]byte{}
	c.log.Info("TLS reloaded", append(l.attrs(c.files), "previous_serial", serial(old.leaf.SerialNumber))...)
	return nil
}

// raw is the files' bytes, read once so that what is checked for a
// change is what is loaded.
type raw struct{ cert, key, ca []byte }

func (r raw) digest() [sha256.Size]byte {
	return sha256.Sum256(bytes.Join([][]byte{r.cert, r.key, r.ca}, []byte{0}))
}

// read reads every file named.
func (f Files) read() (raw, error) {
	var r raw
	var err error
	if r.cert, err = os.ReadFile(f.Cert); err != nil {
		return r, fmt.Errorf("TLS certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	if r.key, err = os.ReadFile(f.Key); err != nil {
		return r, fmt.Errorf("TLS certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	if f.ClientCA != "" {
		if r.ca, err = os.ReadFile(f.ClientCA); err != nil {
			return r, fmt.Errorf("TLS client CA: %w", err)
		}
	}
	return r, nil
}

// load reads and checks every file, building the handshake configuration.
func (f Files) load() (*loaded, error) {
	r, err := f.read()
	if err != nil {
		return nil, err
	}
	return r.parse(f)
}

// parse checks the files' bytes and builds the handshake configuration.
func (r raw) parse(f Files) (*loaded, error) {
	pair, err := tls.X509KeyPair(r.cert, r.key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	leaf := pair.Leaf
	if leaf == nil { // filled by LoadX509KeyPair since Go 1.23; be sure
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", f.Cert, err)
		}
		pair.Leaf = leaf
	}
	cfg := &tls.Config{MinVersion: MinVersion, Certificates: []tls.Certificate{pair}}
	if f.ClientCA != "" {
		cas, err := parseCAs("TLS client CA", f.ClientCA, r.ca)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = poolWith(x509.NewCertPool(), cas), tls.RequireAndVerifyClientCert
	}
	return &loaded{config: cfg, leaf: leaf, digest: r.digest()}, nil
}

// parseCAs parses every certificate of a PEM file; any block that is not
// a parsable certificate fails it (x509.CertPool.AppendCertsFromPEM would
// skip it silently and trust less than the operator meant).
func parseCAs(what, path string, data []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s %s: PEM block %d is %q, want CERTIFICATE", what, path, len(cas)+1, b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: certificate %d: %w", what, path, len(cas)+1, err)
		}
		cas = append(cas, cert)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", what, path)
	}
	return cas, nil
}

// poolWith adds cas to pool and returns it.
func poolWith(pool *x509.CertPool, cas []*x509.Certificate) *x509.CertPool {
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool
}

// attrs describe a loaded certificate for the log: what an operator
// checks after a rotation.
func (l *loaded) attrs(f Files) []any {
	a := []any{"cert", f.Cert, "subject", l.leaf.Subject.String(), "dns_names", l.leaf.DNSNames,
		"serial", serial(l.leaf.SerialNumber), "not_after", l.leaf.NotAfter.UTC().Format(time.RFC3339),
		"min_version", "1.2", "mutual_tls", f.ClientCA != ""}
	if now := time.Now(); now.After(l.leaf.NotAfter) || now.Before(l.leaf.NotBefore) {
		a = append(a, "warning", "the certificate is not valid now: clients will refuse it")
	}
	return a
}

func serial(n *big.Int) string { return fmt.Sprintf("%X", n) }

// ClientConfig is the TLS configuration of a client of https servers
// (trtserve bench): the certificates of caFile trusted besides the
// system's, certFile and keyFile presented to a server that asks for a
// client certificate, insecure skipping the server's verification (curl
// -k). Empty names keep Go's defaults; a file that does not parse fails,
// as the server's do.
func ClientConfig(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinVersion, InsecureSkipVerify: insecure}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file: %w", err)
		}
		// As strict as the server's client CA file.
		cas, err := parseCAs("TLS CA file", caFile, data)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		cfg.RootCAs = poolWith(pool, cas)
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
