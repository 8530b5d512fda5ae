package tasks_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/tasks"
)

// addModel lays out name/1/model.onnx as a link to one of the test models,
// with config (on the simulated backend, which reads only the ONNX header).
func addModel(t *testing.T, root, name, onnx, config string) {
	t.Helper()
	dir := filepath.Join(root, name, "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs(filepath.Join("../testdata/models", onnx, "1/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name, "config.yaml"), []byte("backend: simulated\n"+config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A model whose outputs do not fit its task fails its load, and its
// status says why, when the manager validates with tasks.Validate; the
// models that fit load as before.
func TestModelOfTheWrongLayoutFailsItsLoad(t *testing.T) {
	root := t.TempDir()
	addModel(t, root, "cls-as-det", "yolov8n-cls-320", "task: object-detection\n")
	addModel(t, root, "det-81-names", "yolov8n-320", "class_names: ["+strings.Repeat("x, ", 80)+"x]\n")
	addModel(t, root, "det-as-seg", "yolov8n-320", "task: instance-segmentation\n")
	addModel(t, root, "det", "yolov8n-320", "")
	addModel(t, root, "seg", "yolov8n-seg-320", "")
	addModel(t, root, "pose", "yolov8n-pose-320", "")
	addModel(t, root, "cls", "yolov8n-cls-320", "")
	backends := engines.NewBackendSet()
	backends.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{root}, Defaults: repository.Defaults{MaxBatchSize: 2, InstanceCount: 1}}
	mg := pipeline.NewManager(repo, backends, nil, pipeline.ManagerOptions{Validate: tasks.Validate, Log: slog.New(slog.DiscardHandler)})
	defer mg.Close()
	for _, c := range []struct{ id, reason string }{
		{"cls-as-det/1", "object-detection model: the first output must be [batch, 4+classes, anchors]"},
		{"det-81-names/1", "the model names 81 classes but its first output holds 80 values per anchor"},
		{"det-as-seg/1", "instance-segmentation model: must output detections and [batch, masks, h, w] prototypes"},
		{"det/1", ""}, {"seg/1", ""}, {"pose/1", ""}, {"cls/1", ""},
	} {
		_, err := mg.Load(context.Background(), c.id)
		st := mg.Status(c.id)
		if c.reason == "" {
			if err != nil || st.State != pipeline.StateReady {
				t.Errorf("%s: %v, status %+v", c.id, err, st)
			}
			continue
		}
		if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s loaded with %v; want model.ErrBadModel saying %q", c.id, err, c.reason)
		}
		if st.State != pipeline.StateUnavailable || !strings.Contains(st.Reason, c.reason) {
			t.Errorf("%s: status %+v; want UNAVAILABLE saying %q", c.id, st, c.reason)
		}
		if _, ok := mg.Get(c.id); ok {
			t.Errorf("%s is served", c.id)
		}
	}
}
