package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
)

// refusingBackend stands in for TensorRT: it loads nothing, failing with err.
type refusingBackend struct{ err error }

func (refusingBackend) Name() string { return "tensorrt" }
func (refusingBackend) Close() error { return nil }
func (b refusingBackend) Load(context.Context, *model.Spec) (engines.Engine, error) {
	return nil, b.err
}

// A model the GPU backend cannot run here (engines.ErrBackendCannotRun)
// serves on the fallback backend, with a warning and the reason in its
// status; any other load error, a folder with only an engine file, or no
// fallback available leaves it failed.
func TestPerModelFallback(t *testing.T) {
	cannot := fmt.Errorf("cls/1: %w: tensorrt build: parse error: no importer for op FancyOp", engines.ErrBackendCannotRun)
	onnx, err := os.ReadFile("../testdata/models/yolov8n-cls-320/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		loadErr  error
		engine   bool // the folder holds model.engine only
		noAlt    bool // onnxruntime is not registered
		fallBack bool
	}{
		{"cannot run here", cannot, false, false, true},
		{"another error", fmt.Errorf("cls/1: %w: output out is a scalar", model.ErrBadModel), false, false, false},
		{"engine-only folder", cannot, true, false, false},
		{"no fallback backend", cannot, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "cls", "1")
			os.MkdirAll(dir, 0o755)
			if tc.engine {
				os.WriteFile(filepath.Join(dir, "model.engine"), []byte("plan"), 0o644)
				os.WriteFile(filepath.Join(root, "cls", "config.yaml"), []byte("task: classification\ninput_width: 320\ninput_height: 320\n"), 0o644)
			} else {
				os.WriteFile(filepath.Join(dir, "model.onnx"), onnx, 0o644)
			}
			reg := engines.NewBackendSet()
			reg.Register(refusingBackend{tc.loadErr})
			if !tc.noAlt {
				reg.Register(fakeBackend{})
			}
			reg.SetFallback("tensorrt", "onnxruntime")
			var logs bytes.Buffer
			repo := &repository.Repository{Roots: []string{root}, Defaults: repository.Defaults{Backend: "tensorrt", MaxBatchSize: 2, InstanceCount: 1}}
			mg := NewManager(repo, reg, nil, ManagerOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			defer mg.Close()

			m, err := mg.Load(context.Background(), "cls/1")
			st := mg.Status("cls/1")
			if !tc.fallBack {
				if err == nil || !errors.Is(err, errors.Unwrap(tc.loadErr)) || st.State != StateUnavailable || !strings.Contains(st.Reason, tc.loadErr.Error()) {
					t.Fatalf("err = %v, status %+v: want the backend's own error", err, st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Spec.Backend != "onnxruntime" || st.State != StateReady ||
				st.Reason != "serving on onnxruntime: tensorrt cannot run this model here: tensorrt build: parse error: no importer for op FancyOp" ||
				st.Reason != m.Spec.FallbackReason {
				t.Fatalf("backend %s, status %+v", m.Spec.Backend, st)
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"the model cannot run on its backend here: falling back\" model=cls/1 backend=tensorrt instead=onnxruntime") {
				t.Fatalf("no warning in the log:\n%s", logs.String())
			}
			if errs := m.Do(context.Background(), []Work{&work{x: 1}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		})
	}
}
