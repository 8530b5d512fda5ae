//go:build cudamock

package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/engines/tensorrt"
	"github.com/trtserve/trtserve/trt/trttest"
)

// On the fake shim and the CUDA mock (go test -tags cudamock) TensorRT
// starts and becomes the default backend, on --gpu only, and a sticky
// error of the mock reaches GPUFault once.
func TestTensorRTOnTheMock(t *testing.T) {
	fault := filepath.Join(t.TempDir(), "fault")
	var logs syncBuffer
	cfg := config.Config{TensorRT: "auto", TRTShimLib: trttest.FakeLib(t), AllowEngineHostCode: true, ORTLibrary: "/nonexistent/lib.so",
		CUDAMock: true, CUDAMockDevices: 2, CUDAMockFaultFile: fault, GPU: 1, EngineCacheDir: t.TempDir()}
	b, err := OpenBackends(&cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Default != tensorrt.Name || b.PinnedPool == nil || b.Runtime == nil {
		t.Fatalf("default %q pool %v runtime %v", b.Default, b.PinnedPool, b.Runtime)
	}
	if !strings.Contains(logs.String(), "FAKE") || !strings.Contains(logs.String(), "CUDA MOCK") {
		t.Errorf("the logs do not say fake and mock:\n%s", logs.String())
	}
	os.WriteFile(fault, []byte("700"), 0o644)
	deadline := time.After(10 * time.Second)
	for {
		cuda.OnDevice(b.Runtime, cfg.GPU, func() error { _, _, err := b.Runtime.MemGetInfo(); return err })
		select {
		case err := <-b.GPUFault:
			if !cuda.IsDeviceFault(err) {
				t.Fatalf("GPUFault got %v", err)
			}
			b.Close()
			if !strings.Contains(logs.String(), `msg="CUDA MOCK: devices that got a context" devices=1`) {
				t.Fatalf("a device other than --gpu 1 got a context:\n%s", logs.String())
			}
			return
		case <-deadline:
			t.Fatal("no GPU fault within 10 s of the fault file")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// syncBuffer is a log the fault-file goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
