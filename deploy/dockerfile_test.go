package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Paths of the files under test, relative to this package's folder.
const (
	dockerfilePath = "../Dockerfile.tensorrt"
	runShPath      = "../run.sh"
	buildShPath    = "../build.sh"
	imageSetupPath = "image-setup.sh"
	readmePath     = "../README.md"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined and comment lines inside it dropped, as Docker reads it.
type instruction struct {
	cmd  string // upper case: FROM, ARG, ENV, ...
	args string
	line int
}

// stage is one FROM and the instructions under it.
type stage struct {
	name, from string
	ins        []instruction
}

type dockerfile struct {
	globalArgs map[string]string // ARGs before the first FROM, with defaults
	stages     []stage
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		ins     []instruction
		cur     strings.Builder
		start   int
		lineNum int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNum++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = lineNum
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			continue
		}
		cmd, args, _ := strings.Cut(text, " ")
		ins = append(ins, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	df := dockerfile{globalArgs: map[string]string{}}
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			fields := strings.Fields(in.args)
			s := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			df.stages = append(df.stages, s)
		case len(df.stages) == 0 && in.cmd == "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			df.globalArgs[name] = strings.Trim(def, `"`)
		case len(df.stages) > 0:
			last := &df.stages[len(df.stages)-1]
			last.ins = append(last.ins, in)
		}
	}
	return df
}

func (df dockerfile) stage(t *testing.T, name string) stage {
	t.Helper()
	for _, s := range df.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile.tensorrt has no stage %q", name)
	return stage{}
}

// keyValues parses ENV or LABEL arguments (k=v pairs, values optionally
// double-quoted, no spaces inside values: all this file uses).
func keyValues(t *testing.T, in instruction) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range strings.Fields(in.args) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("Dockerfile.tensorrt:%d: %s %q is not key=value", in.line, in.cmd, f)
		}
		kv[k] = strings.Trim(v, `"`)
	}
	return kv
}

// collect merges every ENV (or LABEL) of a stage.
func (s stage) collect(t *testing.T, cmd string) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, in := range s.ins {
		if in.cmd == cmd {
			for k, v := range keyValues(t, in) {
				all[k] = v
			}
		}
	}
	return all
}

func TestDockerfileTargets(t *testing.T) {
	df := parseDockerfile(t, dockerfilePath)
	var names []string
	for _, s := range df.stages {
		names = append(names, s.name)
	}
	for _, want := range []string{"build", "trt-lean", "serve-lean", "serve"} {
		df.stage(t, want)
	}
	// `docker build` without --target builds the last stage: the README's
	// plain command must give the full image.
	if last := names[len(names)-1]; last != "serve" {
		t.Errorf("last stage is %q, want serve (the default target); stages %v", last, names)
	}
	if got := df.stage(t, "serve").from; got != "${RUNTIME_IMAGE}" {
		t.Errorf("serve is FROM %s, want ${RUNTIME_IMAGE}", got)
	}
	if got := df.stage(t, "serve-lean").from; got != "${LEAN_RUNTIME_IMAGE}" {
		t.Errorf("serve-lean is FROM %s, want ${LEAN_RUNTIME_IMAGE}", got)
	}
	// The lean image must not carry the full library (its point is size),
	// and the full image must not depend on the lean stage.
	for _, c := range []struct{ stage, mustCopy, mustNot string }{
		{"serve", "--from=build /out/trt-full/", "--from=trt-lean"},
		{"serve-lean", "--from=trt-lean /out/trt-lean/", "/out/trt-full"},
	} {
		var copies []string
		for _, in := range df.stage(t, c.stage).ins {
			if in.cmd == "COPY" {
				copies = append(copies, in.args)
			}
		}
		all := strings.Join(copies, "\n")
		if !strings.Contains(all, c.mustCopy) {
			t.Errorf("%s: no COPY %s in\n%s", c.stage, c.mustCopy, all)
		}
		if strings.Contains(all, c.mustNot) {
			t.Errorf("%s: COPY of %s in\n%s", c.stage, c.mustNot, all)
		}
	}
}

// TestDockerfileRunSyntax parses every RUN with bash -n (the stages'
// SHELL is bash), so a broken line continuation or quote fails here and
// not minutes into a docker build on someone's GPU host.
func TestDockerfileRunSyntax(t *testing.T) {
	df := parseDockerfile(t, dockerfilePath)
	for _, st := range df.stages {
		for _, in := range st.ins {
			if in.cmd != "RUN" {
				continue
			}
			script := in.args
			for strings.HasPrefix(script, "--") { // --mount=... options
				_, script, _ = strings.Cut(script, " ")
				script = strings.TrimSpace(script)
			}
			cmd := exec.Command("bash", "-n")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("Dockerfile.tensorrt:%d (stage %s): bash -n: %v\n%s", in.line, st.name, err, out)
			}
		}
	}
}

// cudaTag matches the nvidia/cuda tags the serve images use.
var cudaTag = regexp.MustCompile(`^nvidia/cuda:(\d+)\.(\d+)\.(\d+)-(base|runtime)-ubuntu\d+\.\d+$`)

// TestDockerfileCUDAPair holds the build image / runtime image pair to the
// rule image-setup.sh enforces at build time, with the CUDA the 25.12 NGC
// build image carries (13.1.0, per NVIDIA's 25.12 release notes). The old
// rule (major.minor equal) refused exactly this pair: ./build.sh stopped.
func TestDockerfileCUDAPair(t *testing.T) {
	df := parseDockerfile(t, dockerfilePath)
	major, minDriver := df.globalArgs["CUDA_MAJOR"], df.globalArgs["MIN_DRIVER"]
	if major == "" || minDriver == "" {
		t.Fatalf("Dockerfile.tensorrt must set global ARG CUDA_MAJOR and MIN_DRIVER, got %v", df.globalArgs)
	}
	if got := df.globalArgs["TRT_IMAGE"]; got != "nvcr.io/nvidia/tensorrt:25.12-py3" {
		t.Fatalf("TRT_IMAGE is %s: check its CUDA in NVIDIA's release notes and update this test's build CUDA", got)
	}
	const buildCUDA = "13.1.0.036"
	for _, arg := range []string{"RUNTIME_IMAGE", "LEAN_RUNTIME_IMAGE"} {
		tag := df.globalArgs[arg]
		m := cudaTag.FindStringSubmatch(tag)
		if m == nil {
			t.Errorf("%s=%q is not an nvidia/cuda base or runtime tag", arg, tag)
			continue
		}
		if m[1] != major {
			t.Errorf("%s=%s: CUDA major %s, CUDA_MAJOR is %s", arg, tag, m[1], major)
		}
		// The image's NVIDIA_REQUIRE_CUDA is cuda>=major.minor of its tag.
		out, err := runImageSetupCheck(t, map[string]string{
			"CUDA_MAJOR":          major,
			"MIN_DRIVER":          minDriver,
			"CUDA_VERSION":        m[1] + "." + m[2] + "." + m[3],
			"NVIDIA_REQUIRE_CUDA": "cuda>=" + m[1] + "." + m[2] + " brand=tesla,driver>=535,driver<536",
		}, buildCUDA)
		if err != nil {
			t.Errorf("%s=%s with a CUDA %s build image: image-setup.sh refuses it: %v\n%s", arg, tag, buildCUDA, err, out)
		}
	}
}

// TestServeImagesEnvironment: both images promise the same server
// settings; the ones the issue and README name are checked by value.
func TestServeImagesEnvironment(t *testing.T) {
	df := parseDockerfile(t, dockerfilePath)
	for _, c := range []struct{ stage, tensorrtLib, runtime string }{
		{"serve", "/opt/trtserve/lib/libnvinfer.so", "full"},
		{"serve-lean", "/opt/trtserve/lib/libnvinfer_lean.so", "lean"},
	} {
		s := df.stage(t, c.stage)
		env := s.collect(t, "ENV")
		for k, want := range map[string]string{
			"TRTSERVE_EXIT_ON_GPU_FAULT":      "true",
			"TRTSERVE_ALLOW_ENGINE_HOST_CODE": "true",
			"TRTSERVE_TENSORRT_LIB":           c.tensorrtLib,
			"TRTSERVE_TRTSHIM_LIB":            "/opt/trtserve/lib/libtrtshim.so",
			"TRTSERVE_ONNXRUNTIME_LIB":        "/opt/trtserve/lib/libonnxruntime.so",
			"TRTSERVE_MODEL_REPOSITORY":       "/models",
			"TRTSERVE_HOST":                   "0.0.0.0",
			"NVIDIA_DRIVER_CAPABILITIES":      "compute,utility",
		} {
			if env[k] != want {
				t.Errorf("%s: ENV %s=%q, want %q", c.stage, k, env[k], want)
			}
		}
		labels := s.collect(t, "LABEL")
		for k, want := range map[string]string{
			"io.trtserve.min-driver":       "${MIN_DRIVER}",
			"io.trtserve.cuda-major":       "${CUDA_MAJOR}",
			"io.trtserve.tensorrt-runtime": c.runtime,
		} {
			if labels[k] != want {
				t.Errorf("%s: LABEL %s=%q, want %q", c.stage, k, labels[k], want)
			}
		}
		// The checks and the TensorRT library the ENV names: image-setup.sh
		// refuses an image where that file is missing.
		var setup string
		for _, in := range s.ins {
			if in.cmd == "RUN" && strings.Contains(in.args, "/opt/trtserve/image-setup.sh") {
				setup = in.args
			}
		}
		if !strings.Contains(setup, "TENSORRT_LIB="+c.tensorrtLib) {
			t.Errorf("%s: image-setup.sh is not run with TENSORRT_LIB=%s (RUN %q)", c.stage, c.tensorrtLib, setup)
		}
		var user, entry string
		for _, in := range s.ins {
			switch in.cmd {
			case "USER":
				user = in.args
			case "ENTRYPOINT":
				entry = in.args
			}
		}
		if user != "10001:10001" || entry != `["trtserve", "serve"]` {
			t.Errorf("%s: USER %q ENTRYPOINT %q, want 10001:10001 and trtserve serve", c.stage, user, entry)
		}
	}
}

// TestImageSettingsAreRead: every server setting the images set is a name
// config reads (an env tag in config/config.go), so a misspelt ENV cannot
// silently leave the server on its defaults.
func TestImageSettingsAreRead(t *testing.T) {
	src, err := os.ReadFile("../config/config.go")
	if err != nil {
		t.Fatal(err)
	}
	df := parseDockerfile(t, dockerfilePath)
	for _, st := range []string{"serve", "serve-lean"} {
		for name := range df.stage(t, st).collect(t, "ENV") {
			if strings.HasPrefix(name, "NVIDIA_") {
				continue // the NVIDIA Container Toolkit's
			}
			if !strings.Contains(string(src), `env:"`+name+`"`) {
				t.Errorf("%s: ENV %s is not read by config/config.go", st, name)
			}
		}
	}
}

// TestDriverFloorAgrees: run.sh's default (used before the image exists),
// the Dockerfile's MIN_DRIVER and the README say the same driver.
func TestDriverFloorAgrees(t *testing.T) {
	df := parseDockerfile(t, dockerfilePath)
	floor := df.globalArgs["MIN_DRIVER"]
	run, err := os.ReadFile(runShPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^default_min_driver=(\d+)$`).FindSubmatch(run)
	if m == nil || string(m[1]) != floor {
		t.Errorf("run.sh default_min_driver = %q, Dockerfile.tensorrt MIN_DRIVER = %s", m, floor)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	// Markdown wraps lines anywhere: compare with whitespace collapsed.
	text := strings.Join(strings.Fields(string(readme)), " ")
	if want := "NVIDIA driver " + floor + " or newer"; !strings.Contains(text, want) {
		t.Errorf("README does not say %q", want)
	}
}

// TestLinters runs hadolint on Dockerfile.tensorrt and shellcheck on the
// scripts when make container-check provides them (paths in
// TRTSERVE_HADOLINT / TRTSERVE_SHELLCHECK); plain go test skips them.
func TestLinters(t *testing.T) {
	for _, c := range []struct {
		env   string
		args  []string
		files []string
	}{
		{"TRTSERVE_HADOLINT", nil, []string{dockerfilePath}},
		{"TRTSERVE_SHELLCHECK", nil, []string{runShPath, buildShPath, imageSetupPath}},
	} {
		t.Run(c.env, func(t *testing.T) {
			bin := os.Getenv(c.env)
			if bin == "" {
				t.Skipf("%s not set: make container-check installs the linter and sets it", c.env)
			}
			out, err := exec.Command(bin, append(c.args, c.files...)...).CombinedOutput()
			if err != nil {
				t.Errorf("%s %v: %v\n%s", bin, c.files, err, out)
			}
		})
	}
}
