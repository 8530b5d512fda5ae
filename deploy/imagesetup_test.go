package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runImageSetupCheck runs image-setup.sh --check-only with env and a
// VERSIONS file naming buildCUDA as the build image's CUDA, in an
// environment of nothing else.
func runImageSetupCheck(t *testing.T, env map[string]string, buildCUDA string) (string, error) {
	t.Helper()
	versions := filepath.Join(t.TempDir(), "VERSIONS")
	if err := os.WriteFile(versions, []byte("CUDA_VERSION="+buildCUDA+"\nTENSORRT_VERSION=10.14.1.48-1+cuda13.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", imageSetupPath, "--check-only")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "VERSIONS_FILE=" + versions, "TRT_IMAGE=nvcr.io/nvidia/tensorrt:25.12-py3"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestImageSetupCUDARule(t *testing.T) {
	for _, c := range []struct {
		name      string
		buildCUDA string
		env       map[string]string
		wantErr   string // "" = accepted
	}{
		{
			name:      "13.1 build on a 13.0 runtime (the pair defect 2 refused)",
			buildCUDA: "13.1.0.036",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580", "CUDA_VERSION": "13.0.2", "NVIDIA_REQUIRE_CUDA": "cuda>=13.0 brand=tesla,driver>=535,driver<536"},
		},
		{
			name:      "same minor",
			buildCUDA: "13.0.2",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580", "CUDA_VERSION": "13.0.2"},
		},
		{
			name:      "CUDA 12 pair with its own floor",
			buildCUDA: "12.9.1",
			env:       map[string]string{"CUDA_MAJOR": "12", "MIN_DRIVER": "525", "CUDA_VERSION": "12.0.1", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0"},
		},
		{
			name:      "a 13.1 runtime image with a raised floor",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "590", "CUDA_VERSION": "13.1.0", "NVIDIA_REQUIRE_CUDA": "cuda>=13.1"},
		},
		{
			name:      "build image of another major",
			buildCUDA: "12.9.1",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580", "CUDA_VERSION": "13.0.2"},
			wantErr:   "built for CUDA 12.9.1, this file expects CUDA 13.x",
		},
		{
			name:      "runtime image of another major",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580", "CUDA_VERSION": "12.8.1"},
			wantErr:   "this runtime image has CUDA 12.8.1",
		},
		{
			name:      "floor below the major's",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "570", "CUDA_VERSION": "13.0.2"},
			wantErr:   "CUDA 13.x needs driver 580 or newer",
		},
		{
			name:      "a 13.1 runtime image would need a newer driver than the label says",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580", "CUDA_VERSION": "13.1.0", "NVIDIA_REQUIRE_CUDA": "cuda>=13.1 brand=tesla"},
			wantErr:   "requires 'cuda>=13.1'",
		},
		{
			name:      "base image without CUDA_VERSION",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "580"},
			wantErr:   "sets no CUDA_VERSION",
		},
		{
			name:      "unknown major",
			buildCUDA: "14.0.0",
			env:       map[string]string{"CUDA_MAJOR": "14", "MIN_DRIVER": "600", "CUDA_VERSION": "14.0.0"},
			wantErr:   "no known driver floor for CUDA 14",
		},
		{
			name:      "MIN_DRIVER not a number",
			buildCUDA: "13.1.0",
			env:       map[string]string{"CUDA_MAJOR": "13", "MIN_DRIVER": "r580", "CUDA_VERSION": "13.0.2"},
			wantErr:   "MIN_DRIVER must be a driver branch number",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := runImageSetupCheck(t, c.env, c.buildCUDA)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("refused: %v\n%s", err, out)
			case c.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error with %q\n%s", c.wantErr, out)
			case c.wantErr != "" && !strings.Contains(out, c.wantErr):
				t.Errorf("error does not say %q:\n%s", c.wantErr, out)
			}
		})
	}
}
