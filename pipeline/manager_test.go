package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/repository"
)

// fakeBackend fails to load failFor, and loads brokenFor with an engine
// whose first run fails.
type fakeBackend struct{ failFor, brokenFor string }

func (fakeBackend) Name() string { return "onnxruntime" }
func (fakeBackend) Close() error { return nil }
func (b fakeBackend) Load(_ context.Context, m *model.Spec) (engines.Engine, error) {
	if m.ID() == b.failFor {
		return nil, model.ErrBadModel
	}
	e := newFake()
	e.fail.Store(m.ID() == b.brokenFor)
	return e, nil
}

func testManager(t *testing.T, maxLoaded int, failFor string) *Manager {
	return testManagerWith(t, fakeBackend{failFor: failFor}, ManagerOptions{MaxLoaded: maxLoaded}, "../testdata/models")
}

func testManagerWith(t *testing.T, b fakeBackend, opts ManagerOptions, root string) *Manager {
	reg := engines.NewBackendSet()
	reg.Register(b)
	repo := &repository.Repository{Roots: []string{root}, Defaults: repository.Defaults{MaxBatchSize: 4, InstanceCount: 1}}
	mg := NewManager(repo, reg, nil, opts)
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
	if _, err := mg.Load(ctx, "yolov8n-seg-320/1"); !errors.Is(err, model.ErrBadModel) {
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

func TestModelThatCannotRunFailsItsLoadAtWarmUp(t *testing.T) {
	mg := testManagerWith(t, fakeBackend{brokenFor: "yolov8n-320/1"}, ManagerOptions{}, "../testdata/models")
	if _, err := mg.Load(context.Background(), "yolov8n-320/1"); err == nil || !strings.Contains(err.Error(), "warm-up") {
		t.Fatalf("load of a model that cannot run: %v", err)
	}
	st := mg.Status("yolov8n-320/1")
	if st.State != StateUnavailable || !strings.Contains(st.Reason, "device lost") {
		t.Fatalf("status %+v", st)
	}
}

func TestIndexReportsStates(t *testing.T) {
	mg := testManager(t, 0, "yolov8n-seg-320/1")
	ctx := context.Background()
	mg.Load(ctx, "yolov8n-320/1")
	mg.Load(ctx, "yolov8n-seg-320/1")
	mg.Load(ctx, "yolov8n-pose-320/1")
	if err := mg.UnloadName("yolov8n-pose-320"); err != nil {
		t.Fatal(err)
	}
	if err := mg.UnloadName("yolov8n-pose-320"); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("second unload: %v", err)
	}
	idx, err := mg.Index()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"yolov5n-320/1":      "UNAVAILABLE not loaded",
		"yolov8n-320/1":      "READY ",
		"yolov8n-cls-320/1":  "UNAVAILABLE not loaded",
		"yolov8n-pose-320/1": "UNAVAILABLE unloaded",
		"yolov8n-seg-320/1":  "UNAVAILABLE invalid model",
	}
	// Only these versions: testdata/models gains a folder per model family
	// tested, each of them "not loaded" here.
	got := map[string]string{}
	for _, st := range idx {
		if id := st.Name + "/" + st.Version; want[id] != "" {
			got[id] = string(st.State) + " " + st.Reason
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("index %v\nwant  %v", got, want)
	}
	if m, ok := mg.Latest("yolov8n-320"); !ok || m.Spec.Version != "1" {
		t.Fatalf("latest: %v %v", m, ok)
	}
}

// Reloading a model under traffic drops nothing: every request is served,
// by the old version or the new one.
func TestReloadUnderTrafficLosesNoRequest(t *testing.T) {
	mg := testManager(t, 0, "")
	ctx := context.Background()
	if _, err := mg.Load(ctx, "yolov8n-320/1"); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m, ok := mg.Get("yolov8n-320/1")
				if !ok {
					errs <- errors.New("model missing during reload")
					return
				}
				w := &work{x: float32(c*1000 + i%1000)}
				if err := m.Do(ctx, []Work{w})[0]; err != nil {
					errs <- err
					return
				}
				if w.got.Load() != uint32(2*w.x) {
					errs <- fmt.Errorf("got %d for %v", w.got.Load(), w.x)
					return
				}
				served.Add(1)
			}
		}()
	}
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		if _, err := mg.Reload(ctx, "yolov8n-320/1", nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if served.Load() == 0 {
		t.Fatal("nothing served")
	}
}

func TestReplacedModelIsClosedAfterTheGrace(t *testing.T) {
	mg := testManagerWith(t, fakeBackend{}, ManagerOptions{RetireGrace: 10 * time.Millisecond}, "../testdata/models")
	ctx := context.Background()
	old, err := mg.Load(ctx, "yolov8n-320/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mg.Reload(ctx, "yolov8n-320/1", []byte("max_batch_size: 2")); err != nil {
		t.Fatal(err)
	}
	if err := old.Do(ctx, []Work{&work{x: 1}})[0]; err != nil {
		t.Fatalf("within the grace the old version still serves: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(old.Do(ctx, []Work{&work{x: 1}})[0], ErrClosed) {
		if time.Now().After(deadline) {
			t.Fatal("the replaced model was never closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m, _ := mg.Get("yolov8n-320/1"); m.Spec.MaxBatchSize != 2 {
		t.Fatalf("the override was not applied: max batch %d", m.Spec.MaxBatchSize)
	}
}

// Sync (poll mode) follows the repository: new versions load, changed ones
// reload, removed ones unload.
func TestSyncFollowsTheRepository(t *testing.T) {
	root := t.TempDir()
	onnx, _ := filepath.Abs("../testdata/models/yolov8n-320/1/model.onnx")
	addVersion := func(name, version string) {
		dir := filepath.Join(root, name, version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(onnx, filepath.Join(dir, "model.onnx")); err != nil {
			t.Fatal(err)
		}
	}
	addVersion("a", "1")
	mg := testManagerWith(t, fakeBackend{}, ManagerOptions{}, root)
	ctx := context.Background()
	if err := mg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	first, ok := mg.Get("a/1")
	if !ok {
		t.Fatal("a/1 not loaded by the first sync")
	}
	mg.Sync(ctx)
	if again, _ := mg.Get("a/1"); again != first {
		t.Fatal("an unchanged model was reloaded")
	}
	addVersion("a", "2")
	if err := os.WriteFile(filepath.Join(root, "a", "config.yaml"), []byte("max_batch_size: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mg.Sync(ctx)
	reloaded, ok := mg.Get("a/1")
	if !ok || reloaded == first || reloaded.Spec.MaxBatchSize != 2 {
		t.Fatal("a/1 not reloaded after its config changed")
	}
	if latest, _ := mg.Latest("a"); latest.Spec.Version != "2" {
		t.Fatalf("latest is %s", latest.Spec.Version)
	}
	os.RemoveAll(filepath.Join(root, "a", "1"))
	mg.Sync(ctx)
	if _, ok := mg.Get("a/1"); ok {
		t.Fatal("a/1 still loaded after its files were removed")
	}
}

// A backend whose GPU is lost takes its models out of service for good:
// their state says why, and loading them again fails at once.
func TestFailBackend(t *testing.T) {
	mg := testManager(t, 0, "")
	ctx := context.Background()
	a, err := mg.Load(ctx, "yolov8n-320/1")
	if err != nil {
		t.Fatal(err)
	}
	fault := errors.New("cuda error: cudaStreamSynchronize: cudaErrorIllegalAddress (700)")
	if got := mg.FailBackend("someother", fault); len(got) != 0 {
		t.Fatalf("another backend's fault took out %v", got)
	}
	if st := mg.Status("yolov8n-320/1"); st.State != StateReady {
		t.Fatalf("state %+v", st)
	}
	if got := mg.FailBackend(a.Spec.Backend, fault); len(got) != 1 || got[0] != "yolov8n-320/1" {
		t.Fatalf("taken out: %v", got)
	}
	st := mg.Status("yolov8n-320/1")
	if st.State != StateUnavailable || !strings.Contains(st.Reason, "GPU fault") || !strings.Contains(st.Reason, "700") {
		t.Fatalf("state after the fault: %+v", st)
	}
	if _, ok := mg.Get("yolov8n-320/1"); ok {
		t.Fatal("a model on the lost GPU is still served")
	}
	for _, id := range []string{"yolov8n-320/1", "yolov8n-cls-320/1"} {
		if _, err := mg.Load(ctx, id); !errors.Is(err, ErrDeviceLost) {
			t.Fatalf("load %s after the fault: %v", id, err)
		}
	}
	if st := mg.Status("yolov8n-cls-320/1"); st.State != StateUnavailable || !strings.Contains(st.Reason, "GPU failed") {
		t.Fatalf("state of a model that could not load: %+v", st)
	}
}
