package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeQuickStart returns the shell blocks of README.md's "Quick start"
// section, in order.
func readmeQuickStart(t *testing.T, root string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]string
	var cur []string
	in, fenced := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Quick start"
		case in && strings.HasPrefix(line, "```"):
			if fenced {
				blocks = append(blocks, cur)
				cur = nil
			}
			fenced = !fenced
		case in && fenced:
			cur = append(cur, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestReadmeQuickStart does what the README's quick start says, as it says
// it: the first block must be exactly the two commands (`./run.sh` and
// `make test`, each with its comment); `./run.sh` must serve, and every
// curl block after it must answer Roboflow-shaped detections: the
// pretrained demo model's three people and bus.
func TestReadmeQuickStart(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "third_party/onnxruntime/lib/libonnxruntime.so")); err != nil && os.Getenv("CI") == "" {
		t.Skipf("ONNX Runtime not installed (%v): make test installs it", err)
	}
	blocks := readmeQuickStart(t, root)
	if len(blocks) < 2 {
		t.Fatalf("README quick start: want the two commands and a curl block, found %d blocks", len(blocks))
	}
	var cmds []string
	for _, l := range blocks[0] {
		cmds = append(cmds, strings.TrimSpace(strings.SplitN(l, "#", 2)[0]))
	}
	if len(cmds) != 2 || cmds[0] != "./run.sh" || cmds[1] != "make test" {
		t.Fatalf("README quick start must be exactly ./run.sh and make test, got %q", cmds)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// The gRPC port too: a free one, not 8001, which a server of another
	// test package running at the same time may hold.
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcPort := gln.Addr().(*net.TCPAddr).Port
	gln.Close()
	// run.sh execs the server, so the process group is the server once it
	// has built; TRTSERVE_DOCKER=0 keeps a GPU host's container out of it.
	run := exec.Command("bash", "-c", cmds[0])
	run.Dir = root
	run.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), fmt.Sprintf("TRTSERVE_GRPC_PORT=%d", grpcPort), "TRTSERVE_DOCKER=0")
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &syncBuffer{}
	run.Stdout, run.Stderr = logs, logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		syscall.Kill(-run.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("./run.sh after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			t.Errorf("./run.sh did not stop on SIGTERM\n%s", logs.String())
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ready := false
	for deadline := time.Now().Add(5 * time.Minute); !ready && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("./run.sh exited before serving: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/readiness"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
	}
	if !ready {
		t.Fatalf("./run.sh not serving after 5 minutes\n%s", logs.String())
	}

	curls := 0
	for _, b := range blocks[1:] {
		script := strings.Join(b, "\n")
		if !strings.Contains(script, "curl") {
			continue
		}
		curls++
		script = strings.ReplaceAll(script, "localhost:9001", fmt.Sprintf("127.0.0.1:%d", port))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		sh := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail\n"+script)
		sh.Dir = root
		var stderr strings.Builder
		sh.Stderr = &stderr
		out, err := sh.Output()
		cancel()
		if err != nil {
			t.Fatalf("README block failed: %v\n%s\nstderr: %s", err, script, stderr.String())
		}
		var ans struct {
			InferenceID string `json:"inference_id"`
			Time        *float64
			Image       struct{ Width, Height int }
			Predictions []map[string]any
		}
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatalf("README block answered no JSON object (%v): %.300s\n%s", err, out, script)
		}
		if ans.InferenceID == "" || ans.Time == nil || ans.Image.Width != 810 || ans.Image.Height != 1080 || len(ans.Predictions) == 0 {
			t.Fatalf("README block: not a Roboflow detection answer for bus.jpg: %.300s", out)
		}
		classes := map[any]int{}
		for _, p := range ans.Predictions {
			for _, k := range []string{"x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"} {
				if _, ok := p[k]; !ok {
					t.Fatalf("README block: prediction without %q: %v", k, p)
				}
			}
			classes[p["class"]]++
		}
		// What the README promises of the pretrained demo model.
		if classes["bus"] != 1 || classes["person"] != 3 {
			t.Fatalf("README block: bus.jpg should show three people and the bus, got %v", classes)
		}
	}
	if curls == 0 {
		t.Fatal("README quick start has no curl example")
	}
}
