package kubernetes

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// apiServer is a real kube-apiserver on etcd, both on loopback ports, both
// ended when the test ends.
type apiServer struct {
	kubectl, kubeconfig string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startProcess(t *testing.T, logPath, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log (last 3000 bytes):\n%s", filepath.Base(bin), tail(b, 3000))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// startAPIServer starts etcd and kube-apiserver from TRTSERVE_K8S_TOOLS
// (scripts/k8s-tools.sh apiserver builds them), or skips, saying why,
// where they are missing. TRTSERVE_K8S_REQUIRE_APISERVER=1 turns the skip
// into a failure (scripts/k8s-check.sh sets it once it has built them).
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	dir := toolsDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			msg := fmt.Sprintf("no %s in %s (scripts/k8s-tools.sh apiserver builds kube-apiserver and etcd from the Go module proxy): "+
				"the real-API-server check did not run; the strict decoding against k8s.io/api and the CRD schemas still did", b, dir)
			if os.Getenv("TRTSERVE_K8S_REQUIRE_APISERVER") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	work := t.TempDir()
	clientPort, peerPort, securePort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	startProcess(t, filepath.Join(work, "etcd.log"), filepath.Join(dir, "etcd"),
		"--data-dir", filepath.Join(work, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		// A throwaway store: no fsync, so the test does not wait on disks.
		"--unsafe-no-fsync")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(work, "sa.key")
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyPath, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	token := fmt.Sprintf("test-%d", time.Now().UnixNano())
	tokens := filepath.Join(work, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+",admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, filepath.Join(work, "kube-apiserver.log"), filepath.Join(dir, "kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(securePort),
		"--cert-dir", filepath.Join(work, "certs"),
		"--token-auth-file", tokens,
		"--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", keyPath,
		"--service-account-signing-key-file", keyPath,
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--disable-admission-plugins", "ServiceAccount",
		"--allow-privileged=true",
		// The chart's CPU case mounts its models as an image volume.
		"--feature-gates", "ImageVolume=true")

	kubeconfig := filepath.Join(work, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, securePort, token)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &apiServer{kubectl: filepath.Join(dir, "kubectl"), kubeconfig: kubeconfig}
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := s.run(t, "", "get", "--raw", "/readyz")
		if err == nil && strings.TrimSpace(string(out)) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 90 s: %v %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return s
}

// run runs kubectl against the test server, stdin from in.
func (s *apiServer) run(t *testing.T, in string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

var dryRunLine = regexp.MustCompile(`(?m)^(\S+)/(\S+) (created|configured|unchanged) \(server dry run\)$`)

// applyDryRun sends manifests to the server with strict field validation
// and returns "resource/name" for each one it accepted.
func (s *apiServer) applyDryRun(t *testing.T, manifests []byte) (map[string]bool, error) {
	t.Helper()
	out, err := s.run(t, string(manifests), "apply", "--dry-run=server", "--validate=strict", "-n", testNamespace, "-f", "-")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	accepted := map[string]bool{}
	for _, m := range dryRunLine.FindAllStringSubmatch(string(out), -1) {
		accepted[m[1]+"/"+m[2]] = true
	}
	return accepted, nil
}

// TestAgainstAPIServer installs the vendored CRDs into a real API server
// and applies every rendering of the values matrix and the KServe
// manifests with --dry-run=server --validate=strict: the server's own
// defaulting, validation (CEL rules included) and strict field checks.
func TestAgainstAPIServer(t *testing.T) {
	s := startAPIServer(t)

	var crdYAML bytes.Buffer
	for _, file := range crdFiles {
		data, err := readCRD(file)
		if err != nil {
			t.Fatal(err)
		}
		crdYAML.WriteString("---\n")
		crdYAML.Write(data)
		crdYAML.WriteString("\n")
	}
	// create, not apply: the InferenceService CRD is larger than apply's
	// last-applied annotation may be.
	if out, err := s.run(t, crdYAML.String(), "create", "-f", "-"); err != nil {
		t.Fatalf("installing the CRDs: %v\n%s", err, out)
	}
	// kubectl wait's watch can be cut while the server installs the new
	// kinds' handlers (it then exits 1): ask again, for a minute at most.
	for i := 0; ; i++ {
		out, err := s.run(t, "", "wait", "--for=condition=Established", "crd", "--all", "--timeout=10s")
		if err == nil {
			break
		}
		if i == 5 {
			t.Fatalf("CRDs not established: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
	if out, err := s.run(t, "", "create", "namespace", testNamespace); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Discovery must list the new kinds before kubectl can map them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := s.run(t, "", "api-resources", "-o", "name")
		if strings.Contains(string(out), "scaledobjects.keda.sh") && strings.Contains(string(out), "servingruntimes.serving.kserve.io") &&
			strings.Contains(string(out), "servicemonitors.monitoring.coreos.com") && strings.Contains(string(out), "inferenceservices.serving.kserve.io") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CRDs' kinds are not served:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	files, _ := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	matrix := [][]string{nil}
	for _, f := range files {
		matrix = append(matrix, []string{filepath.Base(f)})
	}
	seen := map[string]bool{}
	for _, values := range matrix {
		name := "defaults"
		if values != nil {
			name = values[0]
		}
		t.Run(name, func(t *testing.T) {
			out, err := helmTemplate(t, values, nil)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := splitYAML(out)
			if err != nil {
				t.Fatal(err)
			}
			accepted, err := s.applyDryRun(t, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(accepted) != len(objs) {
				t.Errorf("the server accepted %d of %d objects: %v", len(accepted), len(objs), accepted)
			}
			for k := range accepted {
				seen[strings.SplitN(k, "/", 2)[0]] = true
			}
		})
	}
	t.Run("kserve", func(t *testing.T) {
		var all bytes.Buffer
		for _, f := range []string{"servingruntime.yaml", "clusterservingruntime.yaml", "inferenceservice.yaml"} {
			all.WriteString("---\n")
			all.Write(mustRead(t, filepath.Join(kserveDir, f)))
		}
		accepted, err := s.applyDryRun(t, all.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for k := range accepted {
			seen[strings.SplitN(k, "/", 2)[0]] = true
		}
		if !accepted["servingruntime.serving.kserve.io/trtserve"] || !accepted["clusterservingruntime.serving.kserve.io/trtserve"] ||
			!accepted["inferenceservice.serving.kserve.io/yolov5s-coco"] {
			t.Errorf("KServe manifests not all accepted: %v", accepted)
		}
	})
	// What the issue names explicitly: the HPA and the ServingRuntime.
	for _, kind := range []string{"horizontalpodautoscaler.autoscaling", "servingruntime.serving.kserve.io", "scaledobject.keda.sh",
		"servicemonitor.monitoring.coreos.com", "deployment.apps", "poddisruptionbudget.policy", "ingress.networking.k8s.io"} {
		if !seen[kind] {
			t.Errorf("no %s was accepted by the server (accepted kinds: %v)", kind, seen)
		}
	}

	// The server itself rejects a misspelled field under strict validation,
	// for a built-in kind and for a CRD's kind.
	t.Run("misspelled fields are rejected", func(t *testing.T) {
		out, err := helmTemplate(t, []string{"autoscaling-keda-values.yaml"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ from, to string }{
			{"          readinessProbe:", "          readinessProbez:"},
			{"  minReplicaCount:", "  minReplicaCnt:"},
		} {
			bad := bytes.Replace(out, []byte(c.from), []byte(c.to), 1)
			if bytes.Equal(bad, out) {
				t.Fatalf("%q not found in the rendering", c.from)
			}
			_, err := s.applyDryRun(t, bad)
			want := strings.TrimSpace(strings.TrimSuffix(c.to, ":"))
			if err == nil || !strings.Contains(err.Error(), "unknown field") || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: want the server to reject the unknown field, got %v", want, err)
			}
		}
	})
}
