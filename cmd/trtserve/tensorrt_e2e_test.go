package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trtserve/trtserve/trt/trttest"
)

// The TensorRT backend end to end over the fake shim and the CUDA mock:
// the real binary builds the ONNX model into its engine cache through the
// shim's C API, loads it, and serves KServe and Roboflow requests through
// the pipeline, pinned pool, staged streams and execution contexts — the
// same code a GPU host runs, with CPU math standing in for TensorRT and
// host memory for the device.
func TestTensorRTBackendOverFakeShim(t *testing.T) {
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	cache := t.TempDir()
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", cache)
	srv := startProcess(t, "--model-repository", repo, "--max-batch-size", "4")
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30e9); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
	}()
	logs := srv.logs.String()
	for _, want := range []string{"msg=\"backend ready\" backend=tensorrt tensorrt=fake", "FAKE", "CUDA MOCK", "building TensorRT engine", "backend=tensorrt pipeline=parallel"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if plans, _ := filepath.Glob(filepath.Join(cache, "cls-1-*.plan")); len(plans) != 1 {
		t.Fatalf("engine cache: %v", plans)
	}

	var meta struct {
		Platform string `json:"platform"`
		Outputs  []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"outputs"`
	}
	getJSON(t, srv.url+"/v2/models/cls", &meta)
	if len(meta.Outputs) != 1 {
		t.Fatalf("metadata %+v", meta)
	}
	per := int(meta.Outputs[0].Shape[1])

	// Batches 1..4 at once from many clients: the batcher mixes them into
	// device batches of every size up to max.
	var wg sync.WaitGroup
	for c := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 1 + c%4
			seed := float32(c)
			got, err := inferFake(srv.url, n, seed)
			if err != nil {
				t.Error(err)
				return
			}
			if len(got) != n*per {
				t.Errorf("client %d: %d outputs, want %d", c, len(got), n*per)
				return
			}
			for b := range n {
				for _, j := range []int{0, per - 1} {
					want := seed + float32(b) + 0.5 + float32(j)*0.001
					if v := got[b*per+j]; math.Abs(float64(v-want)) > 1e-3 {
						t.Errorf("client %d item %d out[%d] = %v, want %v", c, b, j, v, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()

	// Roboflow's classification route runs on it too (its answer is the
	// fake's arithmetic, so only the shape of the answer is checked).
	code, body := post(t, srv.url+"/infer/classification", "application/json",
		strings.NewReader(fmt.Sprintf(`{"model_id":"cls/1","image":{"type":"base64","value":"%s"}}`, b64file(t, "../../testdata/images/bus.jpg"))))
	if code != 200 || body["predictions"] == nil {
		t.Fatalf("classification: %d %v", code, body)
	}
	// A wrong shape is a 400, and serving goes on.
	req, _ := http.NewRequest("POST", srv.url+"/v2/models/cls/infer", strings.NewReader(`{"inputs":[{"name":"images","shape":[1,3,32,32],"datatype":"FP32","data":[0]}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("bad shape: %d", resp.StatusCode)
	}
	if _, err := inferFake(srv.url, 4, 7); err != nil {
		t.Fatal(err)
	}
	total := metric(t, srv.url, "nv_pinned_memory_pool_total_bytes")
	used := metric(t, srv.url, "nv_pinned_memory_pool_used_bytes")
	if total <= 0 || used <= 0 || used > total {
		t.Fatalf("pinned pool metrics: total %v used %v", total, used)
	}
}

// inferFake sends n items, item b filled with seed+b and seed+b+1
// alternately (mean seed+b+0.5), as a binary KServe request.
func inferFake(url string, n int, seed float32) ([]float32, error) {
	return inferFakeModel(url, "cls", 320, n, seed)
}

func inferFakeModel(url, model string, size, n int, seed float32) ([]float32, error) {
	item := 3 * size * size
	data := make([]byte, n*item*4)
	for b := range n {
		for i := range item {
			binary.LittleEndian.PutUint32(data[(b*item+i)*4:], math.Float32bits(seed+float32(b)+float32(i%2)))
		}
	}
	hdr := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, n, size, size, len(data))
	req, _ := http.NewRequest("POST", url+"/v2/models/"+model+"/infer", bytes.NewReader(append([]byte(hdr), data...)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("infer %d: %d %s", n, resp.StatusCode, body[:min(len(body), 300)])
	}
	hlen, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	raw := body[hlen:]
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return out, nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// On a machine with the shim and a real libcudart but no GPU (CI installs
// Debian's libcudart11.0), the server says why TensorRT is off and serves
// on ONNX Runtime — also a model whose config.yaml asks for tensorrt.
func TestNoGPUFallsBackToONNXRuntime(t *testing.T) {
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	os.WriteFile(filepath.Join(repo, "cls", "config.yaml"), []byte("backend: tensorrt\n"), 0o644)
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	srv := startProcess(t, "--model-repository", repo)
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		srv.wait(30e9)
	}()
	logs := srv.logs.String()
	want := "cuda: no usable device"
	if os.Getenv("CI") == "" && !strings.Contains(logs, want) {
		want = "cuda: runtime library not available" // no libcudart on this machine
	}
	for _, w := range []string{"TensorRT backend not available: models run on ONNX Runtime (CPU)", want,
		"backend not available here: falling back", "backend=onnxruntime pipeline=parallel"} {
		if !strings.Contains(logs, w) {
			t.Fatalf("log lacks %q:\n%s", w, logs)
		}
	}
	for _, m := range repositoryIndex(t, srv.url) {
		if m["name"] == "cls" && (m["state"] != "READY" || !strings.HasPrefix(m["reason"], "serving on onnxruntime: tensorrt is not available here: ") || !strings.Contains(m["reason"], want)) {
			t.Fatalf("index entry %v", m)
		}
	}
	code, body := post(t, srv.url+"/infer/classification", "application/json",
		strings.NewReader(fmt.Sprintf(`{"model_id":"cls/1","image":{"type":"base64","value":"%s"}}`, b64file(t, "../../testdata/images/bus.jpg"))))
	if code != 200 || body["predictions"] == nil {
		t.Fatalf("classification: %d %v", code, body)
	}
}

// A model whose engine is being built stays not ready, while a loaded
// TensorRT model (from its engine file) goes on serving.
func TestEngineBuildDoesNotBlockOtherModels(t *testing.T) {
	repo := t.TempDir()
	fast := filepath.Join(repo, "fast", "1")
	os.MkdirAll(fast, 0o755)
	os.WriteFile(filepath.Join(fast, "model.engine"), []byte("trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=1x3x64x64 opt=4x3x64x64 max=4x3x64x64\noutput out FLOAT -1x10\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "fast", "config.yaml"), []byte("task: classification\ninput_width: 64\ninput_height: 64\n"), 0o644)
	addClsONNX(t, repo, "slow")
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
	t.Setenv("TRTSHIM_FAKE_BUILD_STEP_MS", "1000")
	srv := startProcess(t, "--model-repository", repo, "--load-models", "fast/1")
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30e9); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
	}()
	loaded := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.url+"/v2/repository/models/slow/load", "application/json", nil)
		if err != nil {
			loaded <- 0
			return
		}
		resp.Body.Close()
		loaded <- resp.StatusCode
	}()
	// A request of the loaded model counts as served during the build when
	// the other model was LOADING both before it started and after it
	// ended: an order of events, whatever the machine's speed. Were the
	// loaded model blocked by the build, none would.
	sawLoading, duringBuild, startedLoading := false, 0, false
	var slowest time.Duration
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case code := <-loaded:
			if code != 200 {
				t.Fatalf("load: %d\n%s", code, srv.logs.String())
			}
			if !sawLoading || duringBuild < 3 {
				t.Fatalf("during the build: loading seen %v, %d requests of the loaded model answered while the other was building", sawLoading, duringBuild)
			}
			t.Logf("%d requests answered during the build, the slowest in %v", duringBuild, slowest)
			if _, err := inferFakeModel(srv.url, "slow", 320, 2, 1); err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the build never finished")
		}
		resp, err := http.Get(srv.url + "/v2/models/slow/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				select {
				case code := <-loaded: // the load just finished
					loaded <- code
					continue
				default:
					t.Fatal("slow/1 ready before its load returned")
				}
			}
		}
		loading := false
		for _, m := range repositoryIndex(t, srv.url) {
			if m["name"] == "slow" && m["state"] == "LOADING" {
				loading = true
			}
		}
		sawLoading = sawLoading || loading
		if loading && startedLoading {
			duringBuild++
		}
		t0 := time.Now()
		if _, err := inferFakeModel(srv.url, "fast", 64, 4, 2); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
		startedLoading = loading
		time.Sleep(50 * time.Millisecond)
	}
}

// A model whose ONNX TensorRT cannot build here serves on ONNX Runtime,
// with a warning in the log and the reason in its status (the KServe
// repository index, the Roboflow model registry), while a model TensorRT
// builds serves on TensorRT. The fake shim refuses the detection export as
// TensorRT refuses an op it lacks: its output's anchor dimension depends
// on the input size, which the fake cannot compute (TRTSHIM_ERR_UNSUPPORTED);
// and it refuses int8 as TensorRT 11 refuses fp16/bf16/int8.
func TestTensorRTPerModelFallbackToONNXRuntime(t *testing.T) {
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	addONNX(t, repo, "det", "../../testdata/models/yolov8n-320/1/model.onnx")
	addClsONNX(t, repo, "q")
	os.WriteFile(filepath.Join(repo, "q", "config.yaml"), []byte("precision: int8\n"), 0o644)
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
	srv := startProcess(t, "--model-repository", repo, "--max-batch-size", "2")
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30e9); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
	}()
	logs := srv.logs.String()
	if !strings.Contains(logs, `level=WARN msg="the model cannot run on its backend here: falling back" model=det/1 backend=tensorrt instead=onnxruntime`) {
		t.Fatalf("no fallback warning:\n%s", logs)
	}
	reasons := map[string]string{}
	for _, m := range repositoryIndex(t, srv.url) {
		reasons[m["name"]] = m["state"] + ": " + m["reason"]
	}
	if reasons["cls"] != "READY: " || !strings.HasPrefix(reasons["det"], "READY: serving on onnxruntime: tensorrt cannot run this model here: tensorrt build: unsupported: ") ||
		!strings.HasPrefix(reasons["q"], "READY: serving on onnxruntime: tensorrt cannot run this model here: tensorrt build: unsupported: ") ||
		!strings.Contains(reasons["q"], "int8") {
		t.Fatalf("index %v", reasons)
	}
	for model, platform := range map[string]string{"cls": "tensorrt_plan", "det": "onnxruntime_onnx", "q": "onnxruntime_onnx"} {
		var meta struct {
			Platform string `json:"platform"`
		}
		getJSON(t, srv.url+"/v2/models/"+model, &meta)
		if meta.Platform != platform {
			t.Errorf("%s runs on %s, want %s", model, meta.Platform, platform)
		}
	}
	var reg struct {
		Models []struct {
			ModelID        string `json:"model_id"`
			Backend        string `json:"backend"`
			FallbackReason string `json:"fallback_reason"`
		} `json:"models"`
	}
	getJSON(t, srv.url+"/model/registry", &reg)
	if len(reg.Models) != 3 || reg.Models[1].ModelID != "det/1" || reg.Models[1].Backend != "onnxruntime" ||
		"READY: "+reg.Models[1].FallbackReason != reasons["det"] || reg.Models[0].Backend != "tensorrt" || reg.Models[0].FallbackReason != "" {
		t.Fatalf("registry %+v", reg)
	}
	// The fallen-back model answers through ONNX Runtime: real detections.
	code, body := post(t, srv.url+"/infer/object_detection", "application/json",
		strings.NewReader(fmt.Sprintf(`{"model_id":"det/1","image":{"type":"base64","value":"%s"}}`, b64file(t, "../../testdata/images/bus.jpg"))))
	if preds, _ := body["predictions"].([]any); code != 200 || len(preds) == 0 {
		t.Fatalf("detection: %d %v", code, body)
	}
	if _, err := inferFake(srv.url, 2, 3); err != nil { // and the other model still on TensorRT
		t.Fatal(err)
	}
}

// TensorRT that cannot start CUDA (the lean runtime on a host whose
// driver is too old: "CUDA initialization failure with error: 35") makes
// a model with an ONNX file serve on ONNX Runtime with that reason; a
// folder holding only an engine file has nothing else to run and stays
// UNAVAILABLE with it.
func TestTensorRTCUDAInitFailureFallsBack(t *testing.T) {
	repo := t.TempDir()
	addClsONNX(t, repo, "cls")
	eng := filepath.Join(repo, "plan", "1")
	os.MkdirAll(eng, 0o755)
	os.WriteFile(filepath.Join(eng, "model.engine"), []byte("trtshim-fake-plan 1\ninput images FLOAT -1x3x64x64 min=1x3x64x64 opt=2x3x64x64 max=2x3x64x64\noutput out FLOAT -1x10\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "plan", "config.yaml"), []byte("task: classification\ninput_width: 64\ninput_height: 64\n"), 0o644)
	t.Setenv("TRTSERVE_TRTSHIM_LIB", trttest.FakeLib(t))
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	t.Setenv("TRTSERVE_ENGINE_CACHE_DIR", t.TempDir())
	t.Setenv("TRTSHIM_FAKE_CUDA_INIT_ERROR", "35")
	srv := startProcess(t, "--model-repository", repo)
	defer func() {
		srv.cmd.Process.Signal(os.Interrupt)
		if err := srv.wait(30e9); err != nil {
			t.Errorf("exit: %v\n%s", err, srv.logs.String())
		}
	}()
	reasons := map[string]string{}
	for _, m := range repositoryIndex(t, srv.url) {
		reasons[m["name"]] = m["state"] + ": " + m["reason"]
	}
	const cudaErr = "CUDA initialization failure with error: 35"
	if !strings.HasPrefix(reasons["cls"], "READY: serving on onnxruntime: tensorrt cannot run this model here: tensorrt build: tensorrt could not initialise cuda: ") ||
		!strings.Contains(reasons["cls"], cudaErr) ||
		!strings.HasPrefix(reasons["plan"], "UNAVAILABLE: ") || !strings.Contains(reasons["plan"], cudaErr) {
		t.Fatalf("index %v\n%s", reasons, srv.logs.String())
	}
	if out, err := inferFakeModel(srv.url, "cls", 320, 2, 0); err != nil || len(out) == 0 { // answered by ONNX Runtime
		t.Fatalf("infer: %d outputs, %v", len(out), err)
	}
}

// addClsONNX puts testdata's 320 px classification export into repo as
// name/1/model.onnx.
func addClsONNX(t *testing.T, repo, name string) {
	t.Helper()
	addONNX(t, repo, name, "../../testdata/models/yolov8n-cls-320/1/model.onnx")
}

// addONNX puts the ONNX file src into repo as name/1/model.onnx.
func addONNX(t *testing.T, repo, name, src string) {
	t.Helper()
	onnx, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, name, "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
}
