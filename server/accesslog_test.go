package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink the server's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLogBytesIn: the access log counts the bytes the client sent,
// also on the Roboflow routes, which drop the body once its images are
// decoded (a waiting request then holds only them).
func TestAccessLogBytesIn(t *testing.T) {
	logs := &lockedBuffer{}
	s := testServerLogging(t, Options{AccessLog: true}, slog.New(slog.NewJSONHandler(logs, nil)))

	jpeg, err := os.ReadFile("../testdata/images/bus.jpg")
	if err != nil {
		t.Fatal(err)
	}
	detect, _ := json.Marshal(map[string]any{"model_id": testModel + "/1",
		"image": map[string]string{"type": "base64", "value": base64.StdEncoding.EncodeToString(jpeg)}})
	for _, c := range []struct {
		name, path string
		body       []byte
		status     int
	}{
		{"roboflow detection (body dropped after decode)", "/infer/object_detection", detect, 200},
		{"refused request", "/infer/object_detection", []byte(`{"model_id":`), 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(logs.String())
			if st, _, out := do(t, s, "POST", c.path, c.body, "Content-Type", "application/json"); st != c.status {
				t.Fatalf("status %d, want %d: %s", st, c.status, out)
			}
			var line struct {
				Msg     string `json:"msg"`
				BytesIn int    `json:"bytes_in"`
			}
			for _, l := range strings.Split(strings.TrimSpace(logs.String()[before:]), "\n") {
				if err := json.Unmarshal([]byte(l), &line); err == nil && line.Msg == "access" {
					break
				}
			}
			if line.Msg != "access" {
				t.Fatalf("no access line in %q", logs.String()[before:])
			}
			if line.BytesIn != len(c.body) {
				t.Errorf("bytes_in %d, want the %d bytes sent", line.BytesIn, len(c.body))
			}
		})
	}
}
