package app

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/onnxruntime"
	"github.com/trtserve/trtserve/engines/simgpu"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/engines/tensorrt"
)

func ortLib(t *testing.T) string {
	lib := os.Getenv("TRTSERVE_ONNXRUNTIME_LIB")
	if lib == "" {
		lib = "../../third_party/onnxruntime/lib/libonnxruntime.so"
	}
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("ONNX Runtime not installed (%v)", err)
	}
	return lib
}

// Which backends start, which are recorded missing with the reason, and
// when the server cannot start at all.
func TestOpenBackends(t *testing.T) {
	const nowhere = "/nonexistent/lib.so"
	for _, tc := range []struct {
		name    string
		cfg     config.Config
		needORT bool
		wantErr error  // OpenBackends fails with it
		errText string // and says this
		def     string
		missing map[string]string // backend -> part of its reason
	}{
		{name: "tensorrt off", cfg: config.Config{TensorRT: "off"}, needORT: true, def: onnxruntime.Name,
			missing: map[string]string{tensorrt.Name: "disabled by --tensorrt=off", simgpu.Name: "--backend simulated-gpu"}},
		{name: "no shim: onnxruntime runs the models", cfg: config.Config{TensorRT: "auto", TRTShimLib: nowhere}, needORT: true, def: onnxruntime.Name,
			missing: map[string]string{tensorrt.Name: "shim"}},
		{name: "nothing to run models on", cfg: config.Config{TensorRT: "off", ORTLibrary: nowhere}, errText: "onnxruntime backend"},
		{name: "simulated needs no onnxruntime", cfg: config.Config{TensorRT: "off", ORTLibrary: nowhere, Backend: simulated.Name}, def: onnxruntime.Name,
			missing: map[string]string{onnxruntime.Name: "", tensorrt.Name: "disabled"}},
		{name: "simulated-gpu without a GPU", cfg: config.Config{TensorRT: "off", ORTLibrary: nowhere, Backend: simgpu.Name, CUDALib: nowhere},
			wantErr: simgpu.ErrUnavailable, errText: "TRTSERVE_CUDA_MOCK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.needORT {
				cfg.ORTLibrary = ortLib(t)
			}
			b, err := OpenBackends(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v saying %q", err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Default != tc.def || b.PinnedPool != nil || b.Runtime != nil {
				t.Fatalf("default %q pinned pool %v runtime %v, want %q and no GPU", b.Default, b.PinnedPool, b.Runtime, tc.def)
			}
			if _, err := b.Get(simulated.Name); err != nil {
				t.Fatalf("simulated: %v", err)
			}
			for name, why := range tc.missing {
				if _, err := b.Get(name); !errors.Is(err, engines.ErrBackendMissing) || !strings.Contains(err.Error(), why) {
					t.Errorf("%s: %v, want missing saying %q", name, err, why)
				}
			}
			if repo := NewRepository(&cfg, b); repo.Defaults.Backend != tc.def {
				t.Errorf("repository default backend %q, want %q", repo.Defaults.Backend, tc.def)
			}
		})
	}
}
