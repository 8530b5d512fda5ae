package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/cuda/cudamock"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
	"github.com/trtserve/trtserve/shm"
)

// cudaSharedMemoryOnMock is what both protocols' CUDA shared-memory tests
// stand on: a CUDA mock with one device, the registry app.Run builds
// over it, and yolov8n-320 loaded on the simulated backend. Everything is
// closed when the test ends, the models before the registry.
func cudaSharedMemoryOnMock(t *testing.T) (*cudamock.Mock, *shm.Registry, *pipeline.Manager) {
	t.Helper()
	m := cudamock.New(1)
	t.Cleanup(func() { m.Close() })
	regions, closeRegions := OpenSharedMemory(&config.Config{}, &Backends{Runtime: cuda.Watch(m, nil)}, nil)
	t.Cleanup(func() { closeRegions() })
	set := engines.NewBackendSet()
	set.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{"../../testdata/models"}, Defaults: repository.Defaults{
		Backend: simulated.Name, MaxBatchSize: 4, InstanceCount: 1, ForceBackend: simulated.Name}}
	models := pipeline.NewManager(repo, set, nil, pipeline.ManagerOptions{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { models.Close() })
	if _, err := models.Load(context.Background(), "yolov8n-320/1"); err != nil {
		t.Fatal(err)
	}
	return m, regions, models
}
