package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/internal/tlsconf/tlstest"
)

// tlsBinary builds the server once for a test and its subtests.
func tlsBinary(t *testing.T) (bin, ortLib string) {
	t.Helper()
	ortLib = os.Getenv("TRTSERVE_ONNXRUNTIME_LIB")
	if ortLib == "" {
		ortLib = "../../third_party/onnxruntime/lib/libonnxruntime.so"
	}
	if _, err := os.Stat(ortLib); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime missing in CI (%v): make test installs it", err)
		}
		t.Skipf("ONNX Runtime not installed (%v): run ./scripts/install-onnxruntime.sh", err)
	}
	bin = filepath.Join(t.TempDir(), "trtserve")
	if out, err := exec.Command("go", "build", "-tags", "cudamock", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin, ortLib
}

// tlsServer is a running server with TLS on: its files live in dir
// (cert.pem, key.pem, and ca.pem for mutual TLS).
type tlsServer struct {
	*process
	addr string // 127.0.0.1:port
	dir  string
}

// startTLS starts bin serving over TLS with pair (and clientCA's
// certificate as --tls-client-ca when not nil) and waits until client
// sees /readiness answer 200. The test's cleanup sends SIGTERM and wants
// exit 0.
func startTLS(t *testing.T, bin, ortLib string, pair tlstest.Pair, clientCA *tlstest.CA, client *http.Client, args ...string) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	cert, key := pair.Write(t, dir)
	tlsArgs := []string{"--tls-cert", cert, "--tls-key", key}
	if clientCA != nil {
		ca := filepath.Join(dir, "ca.pem")
		tlstest.WriteFile(t, ca, clientCA.PEM)
		tlsArgs = append(tlsArgs, "--tls-client-ca", ca)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &tlsServer{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir,
		process: &process{url: fmt.Sprintf("https://127.0.0.1:%d", port), exited: make(chan error, 1), logs: &syncBuffer{}}}
	s.cmd = exec.Command(bin, append(append([]string{"serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--model-repository", "../../testdata/models", "--onnxruntime-lib", ortLib, "--grpc-port", "0"}, tlsArgs...), args...)...) // a later flag wins
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		if err := s.wait(30 * time.Second); err != nil {
			t.Errorf("server exit: %v\n%s", err, s.logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("server exited at start: %v\n%s", err, s.logs.String())
		default:
		}
		resp, err := client.Get(s.url + "/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
	}
	t.Fatalf("server not ready over TLS:\n%s", s.logs.String())
	return nil
}

// tlsClient trusts ca and presents certs; every request opens its own
// connection unless keepAlive, so a reload shows at once.
func tlsClient(ca *tlstest.CA, keepAlive bool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), Certificates: certs},
		DisableKeepAlives: !keepAlive,
	}}
}

// kserveTLS sends kserveRequest(1) to model through client.
func kserveTLS(client *http.Client, url, model string) (status int, serial int64, body string, err error) {
	hdr, payload := kserveRequest(1)
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(payload))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber.Int64(), string(out[:min(len(out), 300)]), nil
}

// servedSerial opens a new TLS connection and returns the serial of the
// certificate the server presented.
func servedSerial(t *testing.T, addr string, ca *tlstest.CA) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// waitLog waits until the server's logs hold want, at most a minute.
func waitLog(t *testing.T, p *process, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(p.logs.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs:\n%s", want, p.logs.String())
		}
	}
}

// metricTLS reads one sample of /metrics through client.
func metricTLS(t *testing.T, client *http.Client, url, series string) float64 {
	t.Helper()
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

// freeAddr is a loopback address free a moment ago, and its port.
func freeAddr(t *testing.T) (string, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String(), fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// TestTLS runs the real binary with --tls-cert/--tls-key (and
// --tls-client-ca): HTTPS answered, plain HTTP and old TLS refused, mutual
// TLS, certificate reload on SIGHUP, and a drain on SIGTERM.
func TestTLS(t *testing.T) {
	bin, ortLib := tlsBinary(t)
	ca := tlstest.NewCA(t, "trtserve test CA")
	repo := simRepo(t, "sim", "backend: simulated\n")

	t.Run("HTTPS", func(t *testing.T) {
		client := tlsClient(ca, false)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, client, "--model-repository", repo)
		status, serial, body, err := kserveTLS(client, srv.url, "sim")
		if err != nil || status != 200 || serial != 1 {
			t.Fatalf("KServe infer over TLS: %d %v (serial %d): %s", status, err, serial, body)
		}
		resp, err := client.Get(srv.url + "/v2/health/live")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("/v2/health/live: %d over %s", resp.StatusCode, tls.VersionName(resp.TLS.Version))
		}
		// Plain HTTP on the TLS port gets no answer, nor does a client
		// that offers only TLS 1.0 or 1.1.
		plain := &http.Client{Timeout: 30 * time.Second}
		if resp, err := plain.Get("http://" + srv.addr + "/v2/health/live"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Error("plain HTTP was answered 200 on the TLS port")
			}
		}
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			old := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: v, MaxVersion: v}}}
			if resp, err := old.Get(srv.url + "/v2/health/live"); err == nil {
				resp.Body.Close()
				t.Errorf("a %s client was answered %d", tls.VersionName(v), resp.StatusCode)
			}
		}
		// A client that does not trust the CA refuses the server.
		if resp, err := http.Get(srv.url + "/v2/health/live"); err == nil {
			resp.Body.Close()
			t.Error("a client without the CA accepted the server's certificate")
		}
		// Those four failed handshakes are counted, and logged.
		// (The server may finish the last one just after the client has.)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) { // bounds a failure only
			n := metricTLS(t, client, srv.url, "trtserve_tls_handshake_failures_total")
			if n >= 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trtserve_tls_handshake_failures_total = %v after four failed handshakes", n)
			}
		}
		waitLog(t, srv.process, "TLS handshake failed")
	})

	t.Run("HangUpIsNoticed", func(t *testing.T) {
		// TestClientThatHangsUpIsDropped over TLS: a TLS client leaves
		// with a close_notify alert before its FIN, bytes a peek at the
		// socket would take for a live client.
		client := tlsClient(ca, false)
		// 3 s a batch: the first request runs while the watcher (every
		// 200 ms) notices the others' hang-ups, with room for a busy
		// machine; "at most 3 executions" does not depend on its speed.
		slow := simRepo(t, "slow", "backend: simulated\nmax_batch_size: 1\nsimulated: {base_us: 3000000}\n")
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, client, "--model-repository", slow, "--load-models", "slow/1")
		body := odJSON("slow/1", b64file(t, "../../testdata/images/bus.jpg"))
		const n = 8
		for range n {
			conn, err := tls.Dial("tcp", srv.addr, &tls.Config{RootCAs: ca.Pool()})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /infer/object_detection HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", srv.addr, len(body), body)
			time.AfterFunc(100*time.Millisecond, func() { conn.Close() })
		}
		failures := `nv_inference_request_failure{model="slow",reason="CANCELED",version="1"}`
		for deadline := time.Now().Add(time.Minute); metricTLS(t, client, srv.url, failures) < n; time.Sleep(50 * time.Millisecond) { // bounds a failure only
			if time.Now().After(deadline) {
				t.Fatalf("only %v of %d abandoned requests were cancelled", metricTLS(t, client, srv.url, failures), n)
			}
		}
		if execs := metricTLS(t, client, srv.url, `nv_inference_exec_count{model="slow",version="1"}`); execs > 3 {
			t.Fatalf("%v executions for %d requests whose clients left: abandoned work ran", execs, n)
		}
	})

	t.Run("MutualTLS", func(t *testing.T) {
		stranger := tlstest.NewCA(t, "another CA")
		signed := ca.Client(t, 100, "good client").TLS(t)
		client := tlsClient(ca, false, signed)
		healthAddr, healthPort := freeAddr(t)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), ca, client, "--model-repository", repo, "--health-port", healthPort)
		// The kubelet has no client certificate: its probes go to the
		// health port, plain HTTP, which serves health and nothing else.
		for path, want := range map[string]int{"/v2/health/ready": 200, "/readiness": 200, "/healthz": 200, "/v2/health/live": 200, "/metrics": 404, "/v2/models/sim": 404} {
			resp, err := http.Get("http://" + healthAddr + path)
			if err != nil {
				t.Fatalf("health port %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("health port %s: %d, want %d", path, resp.StatusCode, want)
			}
		}
		for _, tc := range []struct {
			name   string
			client *http.Client
			ok     bool
		}{
			{"no client certificate", tlsClient(ca, false), false},
			{"certificate of another CA", tlsClient(ca, false, stranger.Client(t, 101, "stranger").TLS(t)), false},
			{"certificate of the client CA", client, true},
		} {
			for _, path := range []string{"/v2/health/ready", "/v2/models/sim/infer"} {
				var status int
				var err error
				if path == "/v2/health/ready" { // health checks too need the certificate
					var resp *http.Response
					if resp, err = tc.client.Get(srv.url + path); err == nil {
						status = resp.StatusCode
						resp.Body.Close()
					}
				} else {
					status, _, _, err = kserveTLS(tc.client, srv.url, "sim")
				}
				if ok := err == nil && status == 200; ok != tc.ok {
					t.Errorf("%s, %s: status %d, error %v; want answered %v", tc.name, path, status, err, tc.ok)
				}
			}
		}
	})

	t.Run("SIGHUPReloadsTheCertificate", func(t *testing.T) {
		client := tlsClient(ca, false)
		// The file watch off: the reloads below are the signal's.
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, client, "--model-repository", repo, "--tls-reload-interval", "0")
		kept := tlsClient(ca, true) // one connection, opened before the reload
		if status, serial, body, err := kserveTLS(kept, srv.url, "sim"); err != nil || status != 200 || serial != 1 {
			t.Fatalf("before reload: %d %v serial %d: %s", status, err, serial, body)
		}
		ca.Server(t, 2).Write(t, srv.dir)
		srv.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, srv.process, "TLS reloaded")
		if got := servedSerial(t, srv.addr, ca); got != 2 {
			t.Errorf("a new connection after SIGHUP got serial %d, want 2", got)
		}
		if status, serial, body, err := kserveTLS(client, srv.url, "sim"); err != nil || status != 200 || serial != 2 {
			t.Errorf("infer after reload: %d %v serial %d: %s", status, err, serial, body)
		}
		// The connection opened before goes on with its certificate.
		if status, serial, body, err := kserveTLS(kept, srv.url, "sim"); err != nil || status != 200 || serial != 1 {
			t.Errorf("kept-alive connection after reload: %d %v serial %d: %s", status, err, serial, body)
		}
		// A bad pair (the key of another certificate) is refused: the
		// server logs why and goes on serving serial 2.
		tlstest.WriteFile(t, filepath.Join(srv.dir, "key.pem"), ca.Server(t, 3).Key)
		srv.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, srv.process, "TLS reload failed")
		if got := servedSerial(t, srv.addr, ca); got != 2 {
			t.Errorf("after a failed reload a new connection got serial %d, want 2 (the previous one)", got)
		}
		if status, _, body, err := kserveTLS(client, srv.url, "sim"); err != nil || status != 200 {
			t.Errorf("infer after a failed reload: %d %v: %s", status, err, body)
		}
	})

	t.Run("BenchUnderMutualTLSAndAKey", func(t *testing.T) {
		// trtserve bench against a server that wants a client certificate
		// and an API key: requests and /metrics (the server's CPU per
		// image) both get through.
		signed := ca.Client(t, 102, "bench")
		client := tlsClient(ca, false, signed.TLS(t))
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), ca, client, "--model-repository", repo, "--load-models", "sim/1", "--api-key", "bench-key")
		dir := t.TempDir()
		caFile := filepath.Join(dir, "ca.pem")
		tlstest.WriteFile(t, caFile, ca.PEM)
		cert, key := signed.Write(t, dir)
		jsonPath := filepath.Join(dir, "out.json")
		var out, errs bytes.Buffer
		err := runBench([]string{"--url", srv.url, "--model", "sim/1", "--images", "../../testdata/bench/640", "--concurrency", "2",
			"--warmup", "200ms", "--duration", "500ms", "--quiet", "--json", jsonPath,
			"--cacert", caFile, "--cert", cert, "--key", key, "--api-key", "bench-key"}, &out, &errs)
		if err != nil {
			t.Fatalf("%v\n%s", err, errs.String())
		}
		var js struct {
			Levels []struct {
				Images int            `json:"images"`
				CPU    float64        `json:"server_cpu_ms_per_image"`
				Errors map[string]int `json:"errors"`
			} `json:"levels"`
		}
		data, err := os.ReadFile(jsonPath)
		if err != nil || json.Unmarshal(data, &js) != nil || len(js.Levels) != 1 || js.Levels[0].Images == 0 || js.Levels[0].CPU <= 0 || len(js.Levels[0].Errors) != 0 {
			t.Fatalf("bench over mutual TLS with a key: %v %s\n%s", err, data, out.String())
		}
	})

	t.Run("ChangedFilesAreReloaded", func(t *testing.T) {
		// No signal: Kubernetes sends none when it rotates a Secret.
		client := tlsClient(ca, false)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, client, "--model-repository", repo, "--tls-reload-interval", "50ms")
		ca.Server(t, 2).Write(t, srv.dir)
		waitLog(t, srv.process, "TLS reloaded")
		if got := servedSerial(t, srv.addr, ca); got != 2 {
			t.Errorf("a new connection after the files changed got serial %d, want 2", got)
		}
		tlstest.WriteFile(t, filepath.Join(srv.dir, "key.pem"), ca.Server(t, 3).Key)
		waitLog(t, srv.process, "TLS reload failed")
		if got := servedSerial(t, srv.addr, ca); got != 2 {
			t.Errorf("after files that do not load a new connection got serial %d, want 2 (the previous one)", got)
		}
		if status, _, body, err := kserveTLS(client, srv.url, "sim"); err != nil || status != 200 {
			t.Errorf("infer after a refused reload: %d %v: %s", status, err, body)
		}
	})

	t.Run("SIGTERMDrainsInFlight", func(t *testing.T) {
		slow := simRepo(t, "slow", "backend: simulated\nsimulated:\n  base_us: 3000000\n  per_item_us: 0\n")
		client := tlsClient(ca, false)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, client, "--model-repository", slow)
		type answer struct {
			status int
			body   string
			err    error
		}
		done := make(chan answer, 1)
		go func() {
			status, _, body, err := kserveTLS(client, srv.url, "slow")
			done <- answer{status, body, err}
		}()
		// The request is admitted (and not finished) before the signal.
		for metricTLS(t, client, srv.url, `nv_inference_pending_request_count{model="slow",version="1"}`) != 1 {
			time.Sleep(10 * time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGTERM)
		waitLog(t, srv.process, "shutting down")
		// While it drains, new connections are refused; the request in
		// flight is still running (it has not answered yet).
		var refused bool
		for !refused {
			c, err := tls.Dial("tcp", srv.addr, &tls.Config{RootCAs: ca.Pool()})
			if err != nil {
				refused = true
				break
			}
			c.Close()
			select {
			case a := <-done:
				t.Fatalf("the in-flight request answered (%d %v) before the listener closed", a.status, a.err)
			default:
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case err := <-srv.exited:
			t.Fatalf("the server exited (%v) with a request in flight", err)
		default:
		}
		a := <-done
		if a.err != nil || a.status != 200 {
			t.Errorf("in-flight request: %d %v: %s", a.status, a.err, a.body)
		}
		if err := srv.wait(30 * time.Second); err != nil { // nil: exit status 0
			t.Fatalf("exit: %v\n%s", err, srv.logs.String())
		}
	})
}

// grpcInfer sends one zero image of 3×320×320 to model as raw contents.
func grpcInfer(ctx context.Context, c pb.GRPCInferenceServiceClient, model string, opts ...grpc.CallOption) (*pb.ModelInferResponse, error) {
	return c.ModelInfer(ctx, &pb.ModelInferRequest{
		ModelName: model,
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "images", Datatype: "FP32", Shape: []int64{1, 3, 320, 320},
		}},
		RawInputContents: [][]byte{make([]byte, 3*320*320*4)},
	}, opts...)
}

// grpcConn is a client of the gRPC port over TLS with cfg (nil:
// plain text).
func grpcConn(t *testing.T, addr string, cfg *tls.Config) (*grpc.ClientConn, pb.GRPCInferenceServiceClient) {
	t.Helper()
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, pb.NewGRPCInferenceServiceClient(conn)
}

// grpcSerial calls ServerLive and returns the serial of the certificate
// the server presented on that connection.
func grpcSerial(ctx context.Context, c pb.GRPCInferenceServiceClient) (int64, error) {
	var p peer.Peer
	if _, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}, grpc.Peer(&p)); err != nil {
		return 0, err
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return 0, fmt.Errorf("no TLS on the connection: %T", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestTLSGRPC: the gRPC port under the same TLS flags as HTTP: TLS and
// mutual TLS, the health service over TLS, reload on SIGHUP, drain on
// SIGTERM.
func TestTLSGRPC(t *testing.T) {
	bin, ortLib := tlsBinary(t)
	ca := tlstest.NewCA(t, "trtserve test CA")
	repo := simRepo(t, "sim", "backend: simulated\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // ends a hang only
	defer cancel()

	t.Run("TLSAndReload", func(t *testing.T) {
		addr, port := freeAddr(t)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, tlsClient(ca, false), "--model-repository", repo, "--grpc-port", port)
		client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		conn, c := grpcConn(t, addr, client)
		if serial, err := grpcSerial(ctx, c); err != nil || serial != 1 {
			t.Fatalf("ServerLive over TLS: serial %d, %v", serial, err)
		}
		if r, err := grpcInfer(ctx, c, "sim"); err != nil || len(r.Outputs) == 0 {
			t.Fatalf("ModelInfer over TLS: %v", err)
		}
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc.health.v1 over TLS: %v %v", h, err)
		}
		// A plain-text client gets nothing.
		if _, plain := grpcConn(t, addr, nil); true {
			if _, err := plain.ServerLive(ctx, &pb.ServerLiveRequest{}); grpcstatus.Code(err) != codes.Unavailable {
				t.Errorf("plain-text ServerLive on the TLS port: %v, want Unavailable", err)
			}
		}
		// SIGHUP: new connections see serial 2; the open one goes on.
		ca.Server(t, 2).Write(t, srv.dir)
		srv.cmd.Process.Signal(syscall.SIGHUP)
		waitLog(t, srv.process, "TLS reloaded")
		if _, fresh := grpcConn(t, addr, client); true {
			if serial, err := grpcSerial(ctx, fresh); err != nil || serial != 2 {
				t.Errorf("a new gRPC connection after SIGHUP: serial %d, %v; want 2", serial, err)
			}
		}
		if serial, err := grpcSerial(ctx, c); err != nil || serial != 1 {
			t.Errorf("the gRPC connection opened before the reload: serial %d, %v; want 1", serial, err)
		}
	})

	t.Run("MutualTLS", func(t *testing.T) {
		addr, port := freeAddr(t)
		stranger := tlstest.NewCA(t, "another CA")
		signed := ca.Client(t, 100, "good client").TLS(t)
		startTLS(t, bin, ortLib, ca.Server(t, 1), ca, tlsClient(ca, false, signed), "--model-repository", repo, "--grpc-port", port)
		for _, tc := range []struct {
			name  string
			certs []tls.Certificate
			ok    bool
		}{
			{"no client certificate", nil, false},
			{"certificate of another CA", []tls.Certificate{stranger.Client(t, 101, "stranger").TLS(t)}, false},
			{"certificate of the client CA", []tls.Certificate{signed}, true},
		} {
			conn, c := grpcConn(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: tc.certs})
			_, errLive := c.ServerLive(ctx, &pb.ServerLiveRequest{})
			_, errHealth := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			_, errInfer := grpcInfer(ctx, c, "sim")
			for name, err := range map[string]error{"ServerLive": errLive, "health": errHealth, "ModelInfer": errInfer} {
				if (err == nil) != tc.ok {
					t.Errorf("%s, %s: %v; want success %v", tc.name, name, err, tc.ok)
				}
			}
		}
	})

	t.Run("SIGTERMDrainsInFlight", func(t *testing.T) {
		addr, port := freeAddr(t)
		slow := simRepo(t, "slow", "backend: simulated\nsimulated:\n  base_us: 3000000\n  per_item_us: 0\n")
		httpClient := tlsClient(ca, false)
		srv := startTLS(t, bin, ortLib, ca.Server(t, 1), nil, httpClient, "--model-repository", slow, "--grpc-port", port)
		client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
		_, c := grpcConn(t, addr, client)
		done := make(chan error, 1)
		go func() {
			_, err := grpcInfer(ctx, c, "slow")
			done <- err
		}()
		for metricTLS(t, httpClient, srv.url, `nv_inference_pending_request_count{model="slow",version="1"}`) != 1 {
			time.Sleep(10 * time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGTERM)
		waitLog(t, srv.process, "shutting down")
		// New gRPC connections are refused while the RPC in flight runs.
		for {
			_, fresh := grpcConn(t, addr, client)
			if _, err := fresh.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the in-flight RPC ended (%v) before new connections were refused", err)
			default:
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Errorf("in-flight ModelInfer: %v", err)
		}
		if err := srv.wait(30 * time.Second); err != nil { // nil: exit status 0
			t.Fatalf("exit: %v\n%s", err, srv.logs.String())
		}
	})
}
