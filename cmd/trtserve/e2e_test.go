package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startServer builds and starts the real binary on a loopback port; on
// cleanup it must exit 0 on SIGTERM.
func startServer(t testing.TB, args ...string) string {
	t.Helper()
	srv := startProcess(t, args...)
	t.Cleanup(func() {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		if err := srv.wait(30 * time.Second); err != nil {
			t.Errorf("server exit: %v\n%s", err, srv.logs.String())
		}
	})
	return srv.url
}

// process is a running bin/trtserve.
type process struct {
	url    string
	cmd    *exec.Cmd
	exited chan error
	logs   *syncBuffer
}

// wait waits for the process to exit, killing it after d.
func (p *process) wait(d time.Duration) error {
	select {
	case err := <-p.exited:
		p.exited <- err // later waits see it too
		return err
	case <-time.After(d):
		// SIGQUIT makes the Go runtime print every goroutine's stack into
		// the logs the caller reports.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(2 * time.Second)
		p.cmd.Process.Kill()
		return fmt.Errorf("still running after %v: killed", d)
	}
}

// syncBuffer is a bytes.Buffer the process writes while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess starts the binary and waits until /readiness answers 200.
// The caller stops it.
func startProcess(t testing.TB, args ...string) *process {
	t.Helper()
	return startBuilt(t, nil, args...)
}

// startBuilt is startProcess with extra go build flags (the soak builds
// the server with -race when the tests run with it).
func startBuilt(t testing.TB, buildFlags []string, args ...string) *process {
	t.Helper()
	lib := os.Getenv("TRTSERVE_ONNXRUNTIME_LIB")
	if lib == "" {
		lib = "../../third_party/onnxruntime/lib/libonnxruntime.so"
	}
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime missing in CI (%v): make test installs it", err)
		}
		t.Skipf("ONNX Runtime not installed (%v): run ./scripts/install-onnxruntime.sh", err)
	}
	bin := filepath.Join(t.TempDir(), "trtserve")
	// -tags cudamock: the CUDA mock (TRTSERVE_CUDA_MOCK=1) is test code,
	// compiled into test binaries only.
	if out, err := exec.Command("go", append(append([]string{"build", "-tags", "cudamock"}, buildFlags...), "-o", bin, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan error, 1), logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"serve", "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--model-repository", "../../testdata/models", "--onnxruntime-lib", lib}, args...)...) // a later --model-repository wins
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	// gRPC off unless a test asks for it (--grpc-port wins over the
	// variable): servers run side by side, and 8001 is one port.
	p.cmd.Env = append(os.Environ(), "TRTSERVE_GRPC_PORT=0")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(p.url + "/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
	}
	p.cmd.Process.Kill()
	t.Fatalf("server not ready:\n%s", p.logs.String())
	return nil
}

func post(t *testing.T, url, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	return jsonAnswer(t, url, resp)
}

// jsonAnswer reads a response that must be a JSON object, whatever its status.
func jsonAnswer(t *testing.T, url string, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: status %d, body is not a JSON object: %q", url, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// postEarlyReply sends a request whose body the server refuses before reading
// it all (a 413 from Content-Length). net/http's client reports the server's
// close as "broken pipe" when it is still writing, so the body is written on
// its own goroutine and the response read as soon as it arrives.
func postEarlyReply(t *testing.T, url, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go req.Write(conn) // fails with EPIPE once the server has answered and closed
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	return jsonAnswer(t, url, resp)
}

func b64file(t testing.TB, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(data)
}

func odJSON(model, value string) string {
	b, _ := json.Marshal(map[string]any{"model_id": model, "image": map[string]any{"type": "base64", "value": value}})
	return string(b)
}

func odBody(model, value string) *strings.Reader { return strings.NewReader(odJSON(model, value)) }

// hugePNG is a valid 20000x20000 PNG header with a tiny compressed body: a
// decompression bomb that must be refused from its header.
func hugePNG(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 20000, 20000))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBadInputsGetJSONErrorsAndServingGoesOn(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-320/1", "--max-body-bytes", "33554432")
	good := b64file(t, "../../testdata/images/bus.jpg")
	jpeg, _ := os.ReadFile("../../testdata/images/bus.jpg")
	truncated := base64.StdEncoding.EncodeToString(jpeg[:len(jpeg)/3])
	bomb := base64.StdEncoding.EncodeToString(hugePNG(t))
	big := bytes.NewReader([]byte(`{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"` + strings.Repeat("A", 100<<20) + `"}}`))
	cases := []struct {
		name   string
		body   io.Reader
		status int
		typ    string
	}{
		{"non-image base64", odBody("yolov8n-320/1", base64.StdEncoding.EncodeToString([]byte("hello, this is not an image"))), 422, "InvalidImage"},
		{"invalid base64", odBody("yolov8n-320/1", "%%%not base64%%%"), 400, "InvalidRequest"},
		{"truncated jpeg", odBody("yolov8n-320/1", truncated), 422, "InvalidImage"},
		{"20000x20000 png", odBody("yolov8n-320/1", bomb), 413, "ImageTooLarge"},
		{"unknown model", odBody("no-such-model/1", good), 404, "ModelNotFound"},
		{"malformed json", strings.NewReader(`{"model_id": "yolov8n-320/1", "image": `), 400, "InvalidRequest"},
		{"empty body", strings.NewReader(""), 400, "InvalidRequest"},
		{"100 MB body", big, 413, "PayloadTooLarge"},
		{"url input disabled", strings.NewReader(`{"model_id":"yolov8n-320/1","image":{"type":"url","value":"http://127.0.0.1:1/x.jpg"}}`), 400, "InvalidRequest"},
		{"numpy refused", strings.NewReader(`{"model_id":"yolov8n-320/1","image":{"type":"numpy","value":"gASV"}}`), 400, "InvalidRequest"},
		{"bad confidence", strings.NewReader(`{"model_id":"yolov8n-320/1","confidence":"high","image":{"type":"base64","value":"` + good + `"}}`), 400, "InvalidRequest"},
		{"bad iou", strings.NewReader(`{"model_id":"yolov8n-320/1","iou_threshold":7,"image":{"type":"base64","value":"` + good + `"}}`), 400, "InvalidRequest"},
		{"missing image", strings.NewReader(`{"model_id":"yolov8n-320/1"}`), 400, "InvalidRequest"},
	}
	// What the good request answers on a server no bad input has touched;
	// after each bad one it must answer exactly that again.
	answer := func(t *testing.T) string {
		status, body := post(t, url+"/infer/object_detection", "application/json", odBody("yolov8n-320/1", good))
		if status != 200 {
			t.Fatalf("good request: %d %v", status, body)
		}
		preds := body["predictions"].([]any)
		for _, p := range preds {
			delete(p.(map[string]any), "detection_id") // a fresh UUID each time
		}
		out, _ := json.Marshal(map[string]any{"image": body["image"], "predictions": preds})
		return string(out)
	}
	want := answer(t)
	if !strings.Contains(want, `"width":810`) || !strings.Contains(want, `"class_id"`) {
		t.Fatalf("good request: unexpected answer %s", want)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			send := post
			if c.status == 413 {
				send = postEarlyReply
			}
			status, body := send(t, url+"/infer/object_detection", "application/json", c.body)
			if status != c.status || body["error_type"] != c.typ || body["message"] == "" {
				t.Fatalf("got %d %v, want %d %s", status, body, c.status, c.typ)
			}
			// The next good request is still answered, and answered the same.
			if got := answer(t); got != want {
				t.Fatalf("good request after %s answers\n%s\nwhere before it answered\n%s", c.name, got, want)
			}
		})
	}
}

func TestRoutesAndModelControl(t *testing.T) {
	url := startServer(t, "--load-models", "none")
	for _, path := range []string{"/healthz", "/readiness", "/info", "/model/registry"} {
		resp, err := http.Get(url + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	status, body := post(t, url+"/model/add", "application/json", strings.NewReader(`{"model_id":"yolov8n-320/1"}`))
	if status != 200 || len(body["models"].([]any)) != 1 {
		t.Fatalf("add: %d %v", status, body)
	}
	status, body = post(t, url+"/model/add", "application/json", strings.NewReader(`{"model_id":"nope/9"}`))
	if status != 404 {
		t.Fatalf("add unknown: %d %v", status, body)
	}
	// Legacy route with a raw base64 body, then with a multipart file.
	good := b64file(t, "../../testdata/images/bus.jpg")
	status, body = post(t, url+"/yolov8n-320/1?confidence=40&overlap=30", "application/x-www-form-urlencoded", strings.NewReader(good))
	if status != 200 || len(body["predictions"].([]any)) == 0 {
		t.Fatalf("legacy base64: %d %v", status, body)
	}
	var mp bytes.Buffer
	mp.WriteString("--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bus.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
	raw, _ := os.ReadFile("../../testdata/images/bus.jpg")
	mp.Write(raw)
	mp.WriteString("\r\n--XX--\r\n")
	status, body2 := post(t, url+"/yolov8n-320/1", "multipart/form-data; boundary=XX", &mp)
	if status != 200 || len(body2["predictions"].([]any)) != len(body["predictions"].([]any)) {
		t.Fatalf("legacy multipart: %d %v", status, body2)
	}
	status, body = post(t, url+"/model/remove", "application/json", strings.NewReader(`{"model_id":"yolov8n-320/1"}`))
	if status != 200 || len(body["models"].([]any)) != 0 {
		t.Fatalf("remove: %d %v", status, body)
	}
	status, body = post(t, url+"/model/clear", "application/json", nil)
	if status != 200 {
		t.Fatalf("clear: %d %v", status, body)
	}
}
