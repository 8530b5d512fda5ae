package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
)

type fakeBackend struct{ failFor string }

func (fakeBackend) Name() string { return "onnxruntime" }
func (fakeBackend) Close() error { return nil }
func (b fakeBackend) Load(_ context.Context, m *engines.Model) (engines.Engine, error) {
	if m.ID() == b.failFor {
		return nil, engines.ErrBadModel
	}
	return newFake(), nil
}

func testManager(t *testing.T, maxLoaded int, failFor string) *Manager {
	reg := engines.NewRegistry()
	reg.Register(fakeBackend{failFor})
	repo := &engines.Repository{Roots: []string{"../testdata/models"}, Defaults: engines.Defaults{MaxBatchSize: 4, InstanceCount: 1}}
	mg := NewManager(repo, reg, nil, ManagerOptions{MaxLoaded: maxLoaded})
	t.Cleanup(func() { mg.Close() })
	return mg
}

func TestLeastRecentlyUsedModelIsUnloaded(t *testing.T) {
	mg := testManager(t, 2, "")
	ctx := context.Background()
	a, err := mg.Load(ctx, "yolov8n-320/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mg.Load(ctx, "yolov8n-cls-320/1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if errs := a.Do(ctx, []Work{&work{x: 1}}); errs[0] != nil { // a is now the most recently used
		t.Fatal(errs[0])
	}
	if _, err := mg.Load(ctx, "yolov8n-pose-320/1"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range mg.Loaded() {
		ids = append(ids, m.Spec.ID())
	}
	if len(ids) != 2 || ids[0] != "yolov8n-320/1" || ids[1] != "yolov8n-pose-320/1" {
		t.Fatalf("loaded %v: want the classifier (least recently used) unloaded", ids)
	}
}

func TestFailedLoadFailsOnlyItsModel(t *testing.T) {
	mg := testManager(t, 0, "yolov8n-seg-320/1")
	ctx := context.Background()
	if _, err := mg.Load(ctx, "yolov8n-seg-320/1"); !errors.Is(err, engines.ErrBadModel) {
		t.Fatalf("want the load error, got %v", err)
	}
	m, err := mg.Load(ctx, "yolov8n-320/1")
	if err != nil {
		t.Fatal(err)
	}
	if errs := m.Do(ctx, []Work{&work{x: 1}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, ok := mg.Get("yolov8n-seg-320/1"); ok {
		t.Fatal("a model that failed to load is registered")
	}
}
