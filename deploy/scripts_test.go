package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Stub docker: logs each call to $FAKE_LOG and answers from FAKE_*
// variables. `image inspect --format` prints the label asked for, or
// "<no value>" as docker does for a missing one.
const fakeDocker = `#!/bin/bash
echo "docker $*" >>"$FAKE_LOG"
case $1 in
  info) exit "${FAKE_DOCKER_INFO_RC:-0}" ;;
  image)
    [ "${FAKE_IMAGE:-0}" = 1 ] || { echo "Error: No such image: ${!#}" >&2; exit 1; }
    if [ "$3" = --format ]; then
      case $4 in
        *min-driver*) echo "${FAKE_LABEL_MIN_DRIVER:-<no value>}" ;;
        *cuda-major*) echo "${FAKE_LABEL_CUDA_MAJOR:-<no value>}" ;;
      esac
    fi
    exit 0 ;;
  run | build) exit 0 ;;
esac
echo "fake docker: unexpected call: $*" >&2
exit 1
`

// Stub nvidia-smi: one GPU (FAKE_GPUS=0: none) on driver $FAKE_DRIVER,
// printed once per GPU as the real one does (two here).
const fakeNvidiaSMI = `#!/bin/bash
echo "nvidia-smi $*" >>"$FAKE_LOG"
case $1 in
  -L)
    [ "${FAKE_GPUS:-1}" = 1 ] || { echo "No devices were found"; exit 6; }
    echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)" ;;
  --query-gpu=driver_version) printf '%s\n%s\n' "$FAKE_DRIVER" "$FAKE_DRIVER" ;;
  *) exit 1 ;;
esac
`

type scriptRun struct {
	stderr string
	log    string // the stubs' calls
	err    error
}

// runScript runs script (run.sh or build.sh) with a PATH of only the
// stubs asked for and the few tools the scripts use, and an environment
// of only env, so neither the developer's docker nor their TRTSERVE_*
// settings take part.
func runScript(t *testing.T, script string, stubs []string, env map[string]string, args ...string) scriptRun {
	t.Helper()
	dir := t.TempDir()
	stubDir, toolDir := filepath.Join(dir, "stubs"), filepath.Join(dir, "tools")
	for _, d := range []string{stubDir, toolDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stubs {
		body := map[string]string{"docker": fakeDocker, "nvidia-smi": fakeNvidiaSMI}[s]
		if err := os.WriteFile(filepath.Join(stubDir, s), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"bash", "dirname", "id"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(toolDir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "calls.log")
	cmd := exec.Command(filepath.Join(toolDir, "bash"), append([]string{abs}, args...)...)
	cmd.Env = []string{"PATH=" + stubDir + ":" + toolDir, "HOME=" + dir, "FAKE_LOG=" + logPath}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	calls, err := os.ReadFile(logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return scriptRun{stderr: stderr.String(), log: string(calls), err: runErr}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestRunShDecision drives run.sh's choice between the container and the
// local build with stub docker and nvidia-smi (RUN_SH_DRY_RUN=1: it prints
// the command instead of running it). Each case names what the user must
// read and which path must follow.
func TestRunShDecision(t *testing.T) {
	both := []string{"docker", "nvidia-smi"}
	const (
		container = "dry run: would run: docker run --rm --gpus all"
		local     = "dry run: would run: make -s build ort && ./bin/trtserve serve"
	)
	for _, c := range []struct {
		name     string
		stubs    []string
		env      map[string]string
		wantCode int
		want     []string // in stderr
		notWant  []string // not in stderr
	}{
		{
			name:  "no docker",
			stubs: []string{"nvidia-smi"},
			env:   map[string]string{"FAKE_DRIVER": "580.95.05"},
			want:  []string{"local path", "(docker not found)", local},
		},
		{
			name:  "daemon down",
			stubs: both,
			env:   map[string]string{"FAKE_DOCKER_INFO_RC": "1", "FAKE_DRIVER": "580.95.05", "FAKE_IMAGE": "1"},
			want:  []string{"(the docker daemon does not answer)", local},
		},
		{
			name:  "no driver",
			stubs: []string{"docker"},
			env:   map[string]string{"FAKE_IMAGE": "1"},
			want:  []string{"(nvidia-smi not found (no NVIDIA driver))", local},
		},
		{
			name:  "no GPU",
			stubs: both,
			env:   map[string]string{"FAKE_GPUS": "0", "FAKE_DRIVER": "580.95.05", "FAKE_IMAGE": "1"},
			want:  []string{"(nvidia-smi -L lists no GPU)", local},
		},
		{
			name:    "driver older than the image's label",
			stubs:   both,
			env:     map[string]string{"FAKE_DRIVER": "570.133.20", "FAKE_IMAGE": "1", "FAKE_LABEL_MIN_DRIVER": "580", "FAKE_LABEL_CUDA_MAJOR": "13"},
			want:    []string{"the NVIDIA driver here is 570.133.20, older than the 580 that image trtserve:tensorrt needs (CUDA 13.x): update the driver to the R580 branch or newer; serving on the CPU instead", local},
			notWant: []string{container},
		},
		{
			name:    "driver older than the default, image not built",
			stubs:   both,
			env:     map[string]string{"FAKE_DRIVER": "575.64.03"},
			want:    []string{"the NVIDIA driver here is 575.64.03, older than the 580 that image trtserve:tensorrt needs", local},
			notWant: []string{container},
		},
		{
			name:  "image without the label: the default floor",
			stubs: both,
			env:   map[string]string{"FAKE_DRIVER": "575.64.03", "FAKE_IMAGE": "1"},
			want:  []string{"older than the 580 that image", local},
		},
		{
			name:  "the image's label wins over the default",
			stubs: both,
			env:   map[string]string{"FAKE_DRIVER": "580.95.05", "FAKE_IMAGE": "1", "FAKE_LABEL_MIN_DRIVER": "590"},
			want:  []string{"the NVIDIA driver here is 580.95.05, older than the 590", local},
		},
		{
			name:    "driver at the floor, image built",
			stubs:   both,
			env:     map[string]string{"FAKE_DRIVER": "580.95.05", "FAKE_IMAGE": "1", "FAKE_LABEL_MIN_DRIVER": "580"},
			want:    []string{"GPU path: TensorRT container trtserve:tensorrt", container, "trtserve:tensorrt"},
			notWant: []string{"local path", "older than"},
		},
		{
			name:  "newer driver, image not built",
			stubs: both,
			env:   map[string]string{"FAKE_DRIVER": "610.43.02"},
			want:  []string{"image trtserve:tensorrt is not built (./build.sh builds it", local},
		},
		{
			name:  "unreadable driver version: docker decides",
			stubs: both,
			env:   map[string]string{"FAKE_DRIVER": "[N/A]", "FAKE_IMAGE": "1"},
			want:  []string{"could not read the NVIDIA driver version ('[N/A]'); image trtserve:tensorrt needs 580 or newer", container},
		},
		{
			name:     "TRTSERVE_DOCKER=1 and an old driver: fail, do not fall back",
			stubs:    both,
			env:      map[string]string{"TRTSERVE_DOCKER": "1", "FAKE_DRIVER": "570.133.20", "FAKE_IMAGE": "1"},
			wantCode: 1,
			want:     []string{"TRTSERVE_DOCKER=1, but the NVIDIA driver here is 570.133.20, older than the 580"},
			notWant:  []string{"local path", container},
		},
		{
			name:  "TRTSERVE_DOCKER=1 builds a missing image",
			stubs: both,
			env:   map[string]string{"TRTSERVE_DOCKER": "1", "FAKE_DRIVER": "580.95.05"},
			want:  []string{"building it first", "would run: ./build.sh, then docker run ... trtserve:tensorrt"},
		},
		{
			name:  "TRTSERVE_DOCKER=1 builds a missing lean image as the lean target",
			stubs: both,
			env:   map[string]string{"TRTSERVE_DOCKER": "1", "FAKE_DRIVER": "580.95.05", "TRTSERVE_IMAGE": "trtserve:tensorrt-lean"},
			want:  []string{"would run: ./build.sh --lean, then docker run ... trtserve:tensorrt-lean"},
		},
		{
			name:    "TRTSERVE_DOCKER=0",
			stubs:   both,
			env:     map[string]string{"TRTSERVE_DOCKER": "0", "FAKE_DRIVER": "580.95.05", "FAKE_IMAGE": "1"},
			want:    []string{"(TRTSERVE_DOCKER=0)", local},
			notWant: []string{container},
		},
		{
			name:     "TRTSERVE_DOCKER not 0 or 1",
			stubs:    both,
			env:      map[string]string{"TRTSERVE_DOCKER": "yes"},
			wantCode: 2,
			want:     []string{"TRTSERVE_DOCKER must be 0, 1 or unset, got 'yes'"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.env["RUN_SH_DRY_RUN"] = "1"
			r := runScript(t, runShPath, c.stubs, c.env)
			if got := exitCode(r.err); got != c.wantCode {
				t.Errorf("exit %d (%v), want %d", got, r.err, c.wantCode)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(r.stderr, w) {
					t.Errorf("stderr has %q", w)
				}
			}
			if strings.Contains(r.log, "docker run") || strings.Contains(r.log, "docker build") {
				t.Errorf("a dry run called docker run or build:\n%s", r.log)
			}
			if t.Failed() {
				t.Logf("stderr:\n%s\ncalls:\n%s", r.stderr, r.log)
			}
		})
	}
	t.Run("TRTSERVE_DOCKER=0 asks nothing of docker", func(t *testing.T) {
		r := runScript(t, runShPath, both, map[string]string{"TRTSERVE_DOCKER": "0", "RUN_SH_DRY_RUN": "1"})
		if r.log != "" {
			t.Errorf("calls with TRTSERVE_DOCKER=0:\n%s", r.log)
		}
	})
}

// TestRunShContainerArgs runs the container path for real against the
// stub docker: what reaches `docker run` is the image, the GPUs, the model
// folder and the settings, not host library paths.
func TestRunShContainerArgs(t *testing.T) {
	models := t.TempDir()
	r := runScript(t, runShPath, []string{"docker", "nvidia-smi"}, map[string]string{
		"FAKE_DRIVER":                     "580.95.05",
		"FAKE_IMAGE":                      "1",
		"TRTSERVE_MODEL_REPOSITORY":       models,
		"PORT":                            "9123",
		"TRTSERVE_EXIT_ON_GPU_FAULT":      "false",
		"TRTSERVE_TENSORRT_LIB":           "/host/lib/libnvinfer.so.10",
		"TRTSERVE_ALLOW_ENGINE_HOST_CODE": "false",
	}, "--log-level", "debug")
	if r.err != nil {
		t.Fatalf("run.sh: %v\n%s", r.err, r.stderr)
	}
	var run string
	for _, l := range strings.Split(r.log, "\n") {
		if strings.HasPrefix(l, "docker run ") {
			run = l
		}
	}
	for _, w := range []string{
		"--rm --gpus all -p 9123:9001 -v " + models + ":/models ",
		"-p 8001:8001",
		"-e TRTSERVE_EXIT_ON_GPU_FAULT",
		"-e TRTSERVE_ALLOW_ENGINE_HOST_CODE",
		" trtserve:tensorrt --log-level debug",
	} {
		if !strings.Contains(run, w) {
			t.Errorf("docker run lacks %q:\n%s", w, run)
		}
	}
	for _, w := range []string{"TRTSERVE_TENSORRT_LIB", "TRTSERVE_MODEL_REPOSITORY", "-e PORT"} {
		if strings.Contains(run, w) {
			t.Errorf("docker run passes %q (a host setting):\n%s", w, run)
		}
	}
}

func TestBuildShTargets(t *testing.T) {
	for _, c := range []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		want     string
	}{
		{"full", nil, nil, 0, "docker build -f Dockerfile.tensorrt --target serve -t trtserve:tensorrt ."},
		{"lean", []string{"--lean"}, nil, 0, "docker build -f Dockerfile.tensorrt --target serve-lean -t trtserve:tensorrt-lean ."},
		{"lean, own tag, extra args", []string{"--build-arg", "X=1", "--lean"}, map[string]string{"TRTSERVE_IMAGE": "me/trt:lean"},
			0, "docker build -f Dockerfile.tensorrt --target serve-lean -t me/trt:lean --build-arg X=1 ."},
		{"--target refused", []string{"--target", "build"}, nil, 2, "choose the image with --lean"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			r := runScript(t, buildShPath, []string{"docker"}, env, c.args...)
			if got := exitCode(r.err); got != c.wantCode {
				t.Fatalf("exit %d (%v), want %d\n%s", got, r.err, c.wantCode, r.stderr)
			}
			if c.wantCode != 0 {
				if !strings.Contains(r.stderr, c.want) {
					t.Errorf("stderr lacks %q:\n%s", c.want, r.stderr)
				}
				return
			}
			if !strings.Contains(r.log, c.want) {
				t.Errorf("docker calls lack %q:\n%s", c.want, r.log)
			}
		})
	}
	t.Run("no docker", func(t *testing.T) {
		r := runScript(t, buildShPath, nil, nil)
		if exitCode(r.err) != 1 || !strings.Contains(r.stderr, "docker is required to build trtserve:tensorrt") {
			t.Errorf("exit %v, stderr:\n%s", r.err, r.stderr)
		}
	})
}
