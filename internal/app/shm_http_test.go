package app

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/cuda"
	"github.com/trtserve/trtserve/server"
)

// TestCUDASharedMemoryOverHTTPOnMock: the whole CUDA shared-memory path a
// GPU host takes, on the CUDA mock: a "client" allocation exported with
// cudaIpcGetMemHandle, registered through POST
// /v2/cudasharedmemory/region/{name}/register (base64 handle), an infer
// whose input is read from it and whose output is written into it, the
// bytes equal to the same request answered inline; status; unregister
// closes every IPC mapping.
func TestCUDASharedMemoryOverHTTPOnMock(t *testing.T) {
	m, regions, models := cudaSharedMemoryOnMock(t)
	srv := server.New(models, server.Options{SharedMemory: regions}, slog.New(slog.DiscardHandler), nil)
	do := func(method, path string, body []byte, headers ...string) (int, []byte) {
		t.Helper()
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := srv.App().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}

	const n, inSize, outSize = 2, 2 * 3 * 320 * 320 * 4, 2 * 84 * 2100 * 4
	input := make([]byte, inSize)
	for i := 0; i < inSize/4; i++ {
		binary.LittleEndian.PutUint32(input[i*4:], math.Float32bits(float32(i%509)/509))
	}
	// The client's device memory: the input at 0, the output at 1 MiB
	// past it.
	dev, err := m.Malloc(inSize + 1<<20 + outSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MemcpyHtoD(dev, input); err != nil {
		t.Fatal(err)
	}
	h, err := m.IpcGetMemHandle(dev)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(h[:])
	status, body := do("POST", "/v2/cudasharedmemory/region/gpu/register",
		[]byte(fmt.Sprintf(`{"raw_handle":{"b64":%q},"device_id":0,"byte_size":%d}`, b64, inSize+1<<20+outSize)))
	if status != 200 {
		t.Fatalf("register: %d %s", status, body)
	}
	if status, body := do("GET", "/v2/cudasharedmemory/status", nil); status != 200 ||
		string(body) != fmt.Sprintf(`[{"name":"gpu","device_id":0,"byte_size":%d}]`, inSize+1<<20+outSize) {
		t.Fatalf("status: %d %s", status, body)
	}

	hdr := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`, n, inSize)
	status, inline := do("POST", "/v2/models/yolov8n-320/infer", append([]byte(hdr), input...), server.HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)))
	if status != 200 || len(inline) < outSize {
		t.Fatalf("inline: %d", status)
	}
	want := inline[len(inline)-outSize:]

	req := fmt.Sprintf(`{"inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":"gpu","shared_memory_byte_size":%d}}],`+
		`"outputs":[{"name":"output0","parameters":{"shared_memory_region":"gpu","shared_memory_offset":%d,"shared_memory_byte_size":%d}}]}`, n, inSize, inSize+1<<20, outSize)
	status, body = do("POST", "/v2/models/yolov8n-320/infer", []byte(req))
	if status != 200 || string(body) != `{"model_name":"yolov8n-320","model_version":"1","outputs":[{"name":"output0","datatype":"FP32","shape":[2,84,2100]}]}` {
		t.Fatalf("infer in CUDA shared memory: %d %s", status, body)
	}
	got := make([]byte, outSize)
	if err := m.MemcpyDtoH(got, dev+cuda.DevicePtr(inSize+1<<20)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the client's device memory does not hold the inline answer")
	}
	gap := make([]byte, 1<<20)
	if err := m.MemcpyDtoH(gap, dev+cuda.DevicePtr(inSize)); err != nil || !bytes.Equal(gap, make([]byte, 1<<20)) {
		t.Fatalf("bytes between the windows were written (%v)", err)
	}

	bad := strings.Replace(req, fmt.Sprintf(`"shared_memory_offset":%d`, inSize+1<<20), fmt.Sprintf(`"shared_memory_offset":%d`, inSize+1<<20+4), 1)
	if status, body := do("POST", "/v2/models/yolov8n-320/infer", []byte(bad)); status != 400 || !strings.Contains(string(body), "past the region") {
		t.Fatalf("output past the CUDA region: %d %s", status, body)
	}
	if status, body := do("POST", "/v2/cudasharedmemory/region/gpu/unregister", nil); status != 200 {
		t.Fatalf("unregister: %d %s", status, body)
	}
	if n := m.IPCOpen(); n != 0 {
		t.Fatalf("%d IPC mappings open after unregister", n)
	}
}
