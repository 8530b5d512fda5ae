package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// shmDo sends one request and returns its status and body.
func shmDo(t *testing.T, method, url, body string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// shmFile makes a POSIX shared-memory object (a file in /dev/shm) of
// data, removed when the test ends; it returns its key.
func shmFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skipf("no /dev/shm here: %v", err)
	}
	key := fmt.Sprintf("/trtserve-e2e-%d-%s", os.Getpid(), name)
	if err := os.WriteFile("/dev/shm"+key, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/dev/shm" + key) })
	return key
}

// TestSharedMemoryInferOverHTTP: the real binary (ONNX Runtime) answers a
// request whose input and output are in /dev/shm regions with exactly the
// bytes the same request answers inline; offsets and sizes outside a
// region or of the wrong size are refused with 400, unknown regions with
// 404; unregistering frees the names.
func TestSharedMemoryInferOverHTTP(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-320/1")
	infer := url + "/v2/models/yolov8n-320/infer"
	const n, inItem, outItem = 2, 3 * 320 * 320 * 4, 84 * 2100 * 4
	const inSize, outSize, outOff = n * inItem, n * outItem, 4096

	// Two different images: a ramp, and its mirror.
	input := make([]byte, inSize)
	for i := 0; i < inSize/4; i++ {
		v := float32(i%320) / 320
		if i >= inSize/8 {
			v = 1 - v
		}
		binary.LittleEndian.PutUint32(input[i*4:], math.Float32bits(v))
	}

	// The reference: the same tensors inline, answered in binary.
	hdr := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, n, inSize)
	status, inline := shmDo(t, "POST", infer, hdr+string(input), "Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	if status != 200 {
		t.Fatalf("inline: %d %s", status, inline[:min(len(inline), 300)])
	}
	jsonLen := len(inline) - outSize
	want := inline[jsonLen:]

	inKey := shmFile(t, "in", input)
	outKey := shmFile(t, "out", make([]byte, outOff+outSize))
	register := func(name, key string, size int) (int, []byte) {
		return shmDo(t, "POST", url+"/v2/systemsharedmemory/region/"+name+"/register", fmt.Sprintf(`{"key":%q,"offset":0,"byte_size":%d}`, key, size))
	}
	if status, body := register("input_data", inKey, inSize); status != 200 {
		t.Fatalf("register input: %d %s", status, body)
	}
	if status, body := register("output_data", outKey, outOff+outSize); status != 200 {
		t.Fatalf("register output: %d %s", status, body)
	}
	if status, body := register("input_data", inKey, inSize); status != 400 || !bytes.Contains(body, []byte("already in manager")) {
		t.Fatalf("second register under one name: %d %s", status, body)
	}
	status, body := shmDo(t, "GET", url+"/v2/systemsharedmemory/status", "")
	wantStatus := fmt.Sprintf(`[{"name":"input_data","key":%q,"offset":0,"byte_size":%d},{"name":"output_data","key":%q,"offset":0,"byte_size":%d}]`, inKey, inSize, outKey, outOff+outSize)
	if status != 200 || string(body) != wantStatus {
		t.Fatalf("status: %d %s\nwant %s", status, body, wantStatus)
	}

	req := func(inOff, inBytes int, inRegion string, outOffset, outBytes int) string {
		return fmt.Sprintf(`{"id":"shm","inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":%q,"shared_memory_offset":%d,"shared_memory_byte_size":%d}}],`+
			`"outputs":[{"name":"output0","parameters":{"shared_memory_region":"output_data","shared_memory_offset":%d,"shared_memory_byte_size":%d}}]}`,
			n, inRegion, inOff, inBytes, outOffset, outBytes)
	}
	status, body = shmDo(t, "POST", infer, req(0, inSize, "input_data", outOff, outSize), "Content-Type", "application/json")
	wantBody := `{"model_name":"yolov8n-320","model_version":"1","id":"shm","outputs":[{"name":"output0","datatype":"FP32","shape":[2,84,2100]}]}`
	if status != 200 || string(body) != wantBody {
		t.Fatalf("shm infer: %d %s", status, body)
	}
	region, err := os.ReadFile("/dev/shm" + outKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(region[outOff:], want) {
		t.Fatal("the output region does not hold the inline answer's bytes")
	}
	if !bytes.Equal(region[:outOff], make([]byte, outOff)) {
		t.Fatal("bytes before the output window were written")
	}

	for _, tc := range []struct {
		name   string
		body   string
		status int
		text   string
	}{
		{"input size short", req(0, inSize-4, "input_data", outOff, outSize), 400, "needs 2457600"},
		{"input size long", req(0, inSize+4, "input_data", outOff, outSize), 400, "needs 2457600"},
		{"input offset past the window", req(4, inSize, "input_data", outOff, outSize), 400, "past the region"},
		{"input offset past the region", req(inSize, inSize, "input_data", outOff, outSize), 400, "Invalid offset"},
		{"input offset huge", req(1<<62, inSize, "input_data", outOff, outSize), 400, "Invalid offset"},
		{"output too small", req(0, inSize, "input_data", outOff, outSize-4), 400, "the output needs 1411200"},
		{"output past the region", req(0, inSize, "input_data", outOff+4, outSize), 400, "past the region"},
		{"unknown region", req(0, inSize, "nope", outOff, outSize), 404, "Unable to find shared memory region: 'nope'"},
	} {
		status, body := shmDo(t, "POST", infer, tc.body, "Content-Type", "application/json")
		if status != tc.status || !bytes.Contains(body, []byte(tc.text)) {
			t.Errorf("%s: %d %s; want %d with %q", tc.name, status, body, tc.status, tc.text)
		}
	}

	for _, path := range []string{"/v2/systemsharedmemory/region/input_data/unregister", "/v2/systemsharedmemory/unregister"} {
		if status, body := shmDo(t, "POST", url+path, ""); status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}
	if status, body := shmDo(t, "GET", url+"/v2/systemsharedmemory/status", ""); status != 200 || string(body) != "[]" {
		t.Fatalf("status after unregister: %d %s", status, body)
	}
	if status, body := shmDo(t, "POST", infer, req(0, inSize, "input_data", outOff, outSize), "Content-Type", "application/json"); status != 404 {
		t.Fatalf("infer on an unregistered region: %d %s", status, body)
	}
	// The server kept serving inline requests throughout.
	if status, again := shmDo(t, "POST", infer, hdr+string(input), "Inference-Header-Content-Length", strconv.Itoa(len(hdr))); status != 200 || !bytes.Equal(again[jsonLen:], want) {
		t.Fatalf("inline after shm: %d", status)
	}
}

// TestCUDASharedMemoryInferOverHTTPOnMock: CUDA shared memory through the
// real binary on the CUDA mock (TRTSERVE_CUDA_MOCK=1): the "device
// memory" another process shares is a /dev/shm file named by a mock file
// handle (cuda/cudamock/ipcfile.go), registered as tritonclient does
// (base64 raw_handle, device_id, byte_size). The input is read from it and
// the output written into it, equal to the inline answer; a window past
// the region is 400; unregister succeeds.
func TestCUDASharedMemoryInferOverHTTPOnMock(t *testing.T) {
	t.Setenv("TRTSERVE_CUDA_MOCK", "1")
	url := startServer(t, "--load-models", "yolov8n-320/1")
	infer := url + "/v2/models/yolov8n-320/infer"
	const inSize, outSize = 3 * 320 * 320 * 4, 84 * 2100 * 4
	input := make([]byte, inSize)
	for i := 0; i < inSize/4; i++ {
		binary.LittleEndian.PutUint32(input[i*4:], math.Float32bits(float32(i%613)/613))
	}
	hdr := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, inSize)
	status, inline := shmDo(t, "POST", infer, hdr+string(input), "Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	if status != 200 {
		t.Fatalf("inline: %d %s", status, inline[:min(len(inline), 300)])
	}
	want := inline[len(inline)-outSize:]

	// The "device memory": the input, then the output.
	key := shmFile(t, "gpu", append(append([]byte(nil), input...), make([]byte, outSize)...))
	handle := make([]byte, 64)
	copy(handle, "trtserve-mockipf")
	binary.LittleEndian.PutUint64(handle[16:], inSize+outSize)
	copy(handle[24:], strings.TrimPrefix(key, "/"))
	status, body := shmDo(t, "POST", url+"/v2/cudasharedmemory/region/gpu/register",
		fmt.Sprintf(`{"raw_handle":{"b64":%q},"device_id":0,"byte_size":%d}`, base64.StdEncoding.EncodeToString(handle), inSize+outSize))
	if status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	if status, body := shmDo(t, "GET", url+"/v2/cudasharedmemory/status", ""); status != 200 ||
		string(body) != fmt.Sprintf(`[{"name":"gpu","device_id":0,"byte_size":%d}]`, inSize+outSize) {
		t.Fatalf("status: %d %s", status, body)
	}
	req := func(outOff int) string {
		return fmt.Sprintf(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":"gpu","shared_memory_byte_size":%d}}],`+
			`"outputs":[{"name":"output0","parameters":{"shared_memory_region":"gpu","shared_memory_offset":%d,"shared_memory_byte_size":%d}}]}`, inSize, outOff, outSize)
	}
	status, body = shmDo(t, "POST", infer, req(inSize), "Content-Type", "application/json")
	if status != 200 || string(body) != `{"model_name":"yolov8n-320","model_version":"1","outputs":[{"name":"output0","datatype":"FP32","shape":[1,84,2100]}]}` {
		t.Fatalf("infer in CUDA shared memory: %d %s", status, body)
	}
	file, err := os.ReadFile("/dev/shm" + key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file[inSize:], want) || !bytes.Equal(file[:inSize], input) {
		t.Fatal("the shared device memory does not hold the input and the inline answer")
	}
	if status, body := shmDo(t, "POST", infer, req(inSize+4), "Content-Type", "application/json"); status != 400 || !bytes.Contains(body, []byte("past the region")) {
		t.Fatalf("output past the region: %d %s", status, body)
	}
	if status, body := shmDo(t, "POST", url+"/v2/cudasharedmemory/unregister", ""); status != 200 {
		t.Fatalf("unregister: %d %s", status, body)
	}
}

// TestSharedMemoryOff: with --shared-memory=false the extension's routes
// answer 501 and a tensor naming a region is refused, nothing mapped.
func TestSharedMemoryOff(t *testing.T) {
	url := startServer(t, "--load-models", "yolov8n-320/1", "--shared-memory=false")
	key := shmFile(t, "off", make([]byte, 4096))
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/v2/systemsharedmemory/region/r/register", fmt.Sprintf(`{"key":%q,"offset":0,"byte_size":4096}`, key), 501},
		{"/v2/systemsharedmemory/status", "", 501},
		{"/v2/models/yolov8n-320/infer", `{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":"r","shared_memory_byte_size":1228800}}]}`, 400},
	} {
		method := "POST"
		if c.body == "" {
			method = "GET"
		}
		if status, out := shmDo(t, method, url+c.path, c.body); status != c.want || !bytes.Contains(out, []byte("not enabled")) {
			t.Errorf("%s %s: %d %s, want %d saying shared memory is not enabled", method, c.path, status, out, c.want)
		}
	}
}
