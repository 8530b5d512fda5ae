package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/shm"
)

// shmServer is testServer with a shared-memory registry over a temporary
// directory (as /dev/shm) holding the files "in" (one input image) and
// "out" (room for one output and 64 more bytes).
func shmServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	reg := shm.NewRegistry(shm.Options{Dir: dir})
	t.Cleanup(func() { reg.Close() })
	if err := os.WriteFile(filepath.Join(dir, "in"), tensorBytes(1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out"), make([]byte, 84*2100*4+64), 0o600); err != nil {
		t.Fatal(err)
	}
	return testServer(t, Options{SharedMemory: reg}), dir
}

func shmInfer(in string, inOff, inSize int, out string, outOff, outSize int) []byte {
	return []byte(fmt.Sprintf(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":%q,"shared_memory_offset":%d,"shared_memory_byte_size":%d}}],`+
		`"outputs":[{"name":"output0","parameters":{"shared_memory_region":%q,"shared_memory_offset":%d,"shared_memory_byte_size":%d}}]}`,
		in, inOff, inSize, out, outOff, outSize))
}

// TestSharedMemoryRoutes walks tritonclient.http's calls in order:
// register, status, infer with input and output in regions (and the
// refusals), unregister.
func TestSharedMemoryRoutes(t *testing.T) {
	s, dir := shmServer(t)
	const inSize, outSize = 3 * 320 * 320 * 4, 84 * 2100 * 4
	infer := "/v2/models/" + testModel + "/infer"
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string // a substring of the answer, or the whole answer when it starts with [ or {"model
	}{
		{"extensions", "GET", "/v2", "", 200, `"system_shared_memory","cuda_shared_memory"`},
		{"empty status", "GET", "/v2/systemsharedmemory/status", "", 200, `[]`},
		{"register input", "POST", "/v2/systemsharedmemory/region/in/register", `{"key":"/in","offset":0,"byte_size":` + strconv.Itoa(inSize) + `}`, 200, ""},
		{"register output", "POST", "/v2/systemsharedmemory/region/out%20put/register", `{"key":"/out","offset":0,"byte_size":` + strconv.Itoa(outSize+64) + `}`, 200, ""},
		{"name taken", "POST", "/v2/systemsharedmemory/region/in/register", `{"key":"/in","offset":0,"byte_size":16}`, 400, "already in manager"},
		{"no key", "POST", "/v2/systemsharedmemory/region/x/register", `{"byte_size":16}`, 400, "no 'key' field"},
		{"no byte_size", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":"/in"}`, 400, "no 'byte_size' field"},
		{"malformed", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":`, 400, "malformed JSON"},
		{"negative offset", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":"/in","offset":-1,"byte_size":16}`, 400, "malformed JSON"},
		{"no such key", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":"/nope","byte_size":16}`, 400, "Unable to open shared memory region: '/nope'"},
		{"past the file", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":"/in","offset":16,"byte_size":` + strconv.Itoa(inSize) + `}`, 400, "past the end"},
		{"key escaping the directory", "POST", "/v2/systemsharedmemory/region/x/register", `{"key":"/../in","byte_size":16}`, 400, "only one leading '/'"},
		{"status", "GET", "/v2/systemsharedmemory/status", "", 200,
			`[{"name":"in","key":"/in","offset":0,"byte_size":1228800},{"name":"out put","key":"/out","offset":0,"byte_size":705664}]`},
		{"one region's status", "GET", "/v2/systemsharedmemory/region/in/status", "", 200, `[{"name":"in","key":"/in","offset":0,"byte_size":1228800}]`},
		{"unknown region's status", "GET", "/v2/systemsharedmemory/region/nope/status", "", 404, "Unable to find system shared memory region: 'nope'"},
		{"cuda status", "GET", "/v2/cudasharedmemory/status", "", 200, `[]`},
		{"cuda region is system", "GET", "/v2/cudasharedmemory/region/in/status", "", 404, "not CUDA shared memory"},
		{"cuda without a GPU", "POST", "/v2/cudasharedmemory/region/c/register",
			`{"raw_handle":{"b64":"` + strings.Repeat("A", 86) + `=="},"device_id":0,"byte_size":16}`, 400, "CUDA"},
		{"cuda handle not base64", "POST", "/v2/cudasharedmemory/region/c/register", `{"raw_handle":{"b64":"!!"},"device_id":0,"byte_size":16}`, 400, "valid base64 encoded cudaIpcMemHandle_t"},
		{"cuda handle short", "POST", "/v2/cudasharedmemory/region/c/register", `{"raw_handle":{"b64":"AAAA"},"device_id":0,"byte_size":16}`, 400, "valid base64 encoded cudaIpcMemHandle_t"},
		{"cuda no handle", "POST", "/v2/cudasharedmemory/region/c/register", `{"device_id":0,"byte_size":16}`, 400, "no 'raw_handle'"},
		{"cuda no device", "POST", "/v2/cudasharedmemory/region/c/register", `{"raw_handle":{"b64":"AAAA"},"byte_size":16}`, 400, "no 'device_id'"},

		{"infer in shm", "POST", infer, string(shmInfer("in", 0, inSize, "out put", 64, outSize)), 200,
			`{"model_name":"yolov8n-320","model_version":"1","outputs":[{"name":"output0","datatype":"FP32","shape":[1,84,2100]}]}`},
		{"input size not the tensor's", "POST", infer, string(shmInfer("in", 0, inSize-4, "out put", 0, outSize)), 400, "shared_memory_byte_size is 1228796; shape [1 3 320 320] of FP32 needs 1228800"},
		{"input offset past the window", "POST", infer, string(shmInfer("in", 4, inSize, "out put", 0, outSize)), 400, "past the region"},
		{"input offset past the region", "POST", infer, string(shmInfer("in", inSize, inSize, "out put", 0, outSize)), 400, "Invalid offset"},
		{"output too small", "POST", infer, string(shmInfer("in", 0, inSize, "out put", 0, outSize-1)), 400, "the output needs 705600"},
		{"output past the region", "POST", infer, string(shmInfer("in", 0, inSize, "out put", 65, outSize)), 400, "past the region"},
		{"unknown region", "POST", infer, string(shmInfer("nope", 0, inSize, "out put", 0, outSize)), 404, "Unable to find shared memory region: 'nope'"},
		{"region not a string", "POST", infer, `{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","parameters":{"shared_memory_region":1,"shared_memory_byte_size":1228800}}]}`, 400, "must be a string"},
		{"data and region", "POST", infer, `{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","data":[1],"parameters":{"shared_memory_region":"in","shared_memory_byte_size":1228800}}]}`, 400, "exactly one of"},

		{"unregister", "POST", "/v2/systemsharedmemory/region/in/unregister", "", 200, ""},
		{"unregister unknown", "POST", "/v2/systemsharedmemory/region/in/unregister", "", 200, ""},
		{"unregistered region", "POST", infer, string(shmInfer("in", 0, inSize, "out put", 0, outSize)), 404, "Unable to find shared memory region: 'in'"},
		{"unregister all", "POST", "/v2/systemsharedmemory/unregister", "", 200, ""},
		{"status after", "GET", "/v2/systemsharedmemory/status", "", 200, `[]`},
		{"cuda unregister all", "POST", "/v2/cudasharedmemory/unregister", "", 200, ""},
	} {
		status, _, body := do(t, s, tc.method, tc.path, []byte(tc.body))
		exact := strings.HasPrefix(tc.want, "[") || strings.HasPrefix(tc.want, `{"model`)
		if status != tc.status || (exact && string(body) != tc.want) || (!exact && !strings.Contains(string(body), tc.want)) {
			t.Errorf("%s: %s %s: %d %s; want %d with %s", tc.name, tc.method, tc.path, status, body, tc.status, tc.want)
		}
		if status != 200 && !json.Valid(body) {
			t.Errorf("%s: error body is not JSON: %s", tc.name, body)
		}
		if tc.name == "infer in shm" {
			// The region holds what the same request answers inline.
			hdr := inferHeader(1, `,"parameters":{"binary_data_output":true}`)
			st, h, inline := do(t, s, "POST", infer, append(hdr, tensorBytes(1)...), HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)))
			_, blob := readBinaryResponse(t, h, inline)
			file, _ := os.ReadFile(filepath.Join(dir, "out"))
			if st != 200 || !bytes.Equal(file[64:64+outSize], blob) || !bytes.Equal(file[:64], make([]byte, 64)) {
				t.Fatalf("the output region does not hold the inline answer (status %d)", st)
			}
		}
	}
}

// TestSharedMemoryOff: without a registry the extensions answer 501 and
// are not listed.
func TestSharedMemoryOff(t *testing.T) {
	s := testServer(t, Options{})
	for _, path := range []string{"/v2/systemsharedmemory/status", "/v2/cudasharedmemory/region/x/status"} {
		if status, _, body := do(t, s, "GET", path, nil); status != 501 || !strings.Contains(string(body), "not enabled") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if _, _, body := do(t, s, "GET", "/v2", nil); strings.Contains(string(body), "shared_memory") {
		t.Errorf("/v2 lists shared memory without a registry: %s", body)
	}
	body := shmInfer("in", 0, 1228800, "out", 0, 705600)
	if status, _, out := do(t, s, "POST", "/v2/models/"+testModel+"/infer", body); status != 400 || !strings.Contains(string(out), "not enabled") {
		t.Errorf("infer naming a region: %d %s", status, out)
	}
}

// BenchmarkKServeInferHTTP: one batch-1 request through the app (Fiber's
// in-memory connection, the simulated accelerator), with the tensors in
// the body (binary extension, output binary) or in shared-memory regions:
// the server-side cost the regions save (reading and parsing 1.2 MB of
// body, writing 0.7 MB of answer).
func BenchmarkKServeInferHTTP(b *testing.B) {
	dir := b.TempDir()
	reg := shm.NewRegistry(shm.Options{Dir: dir})
	b.Cleanup(func() { reg.Close() })
	const inSize, outSize = 3 * 320 * 320 * 4, 84 * 2100 * 4
	if err := os.WriteFile(filepath.Join(dir, "in"), tensorBytes(1), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out"), make([]byte, outSize), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := reg.RegisterSystem("in", "/in", 0, inSize); err != nil {
		b.Fatal(err)
	}
	if err := reg.RegisterSystem("out", "/out", 0, outSize); err != nil {
		b.Fatal(err)
	}
	s := testServer(b, Options{SharedMemory: reg})
	path := "/v2/models/" + testModel + "/infer"
	hdr := inferHeader(1, `,"parameters":{"binary_data_output":true}`)
	binaryBody := append(hdr, tensorBytes(1)...)
	shmBody := shmInfer("in", 0, inSize, "out", 0, outSize)
	for _, bc := range []struct {
		name    string
		body    []byte
		headers []string
	}{
		{"binary", binaryBody, []string{HeaderInferenceHeaderLength, strconv.Itoa(len(hdr))}},
		{"shared-memory", shmBody, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(inSize + outSize))
			for b.Loop() {
				if status, _, body := do(b, s, "POST", path, bc.body, bc.headers...); status != 200 {
					b.Fatalf("%d %s", status, body)
				}
			}
		})
	}
}
