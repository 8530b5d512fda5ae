package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/engines/simulated"
	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
)

const testModel = "yolov8n-320"

// testServer serves the test repository on the simulated accelerator
// (fast, no ONNX Runtime needed) with yolov8n-320/1 loaded.
func testServer(t testing.TB, opts Options) *Server {
	t.Helper()
	return testServerLogging(t, opts, slog.New(slog.DiscardHandler))
}

// testServerLogging is testServer with the server's log going to log.
func testServerLogging(t testing.TB, opts Options, log *slog.Logger) *Server {
	t.Helper()
	reg := engines.NewBackendSet()
	reg.Register(simulated.New())
	repo := &repository.Repository{Roots: []string{"../testdata/models"}, Defaults: repository.Defaults{
		Backend: simulated.Name, MaxBatchSize: 4, InstanceCount: 1, ForceBackend: simulated.Name}}
	mg := pipeline.NewManager(repo, reg, nil, pipeline.ManagerOptions{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { mg.Close() })
	if _, err := mg.Load(context.Background(), testModel+"/1"); err != nil {
		t.Fatal(err)
	}
	return New(mg, opts, log, nil)
}

// do sends one request through the app and returns status, headers, body.
func do(t testing.TB, s *Server, method, path string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, out
}

// tensorBytes is n images of zeros-and-ramp input, little-endian FP32.
func tensorBytes(n int) []byte {
	out := make([]byte, n*3*320*320*4)
	for i := 0; i < len(out)/4; i++ {
		binary.LittleEndian.PutUint32(out[i*4:], math.Float32bits(float32(i%255)/255))
	}
	return out
}

func inferHeader(n int, extra string) []byte {
	return []byte(fmt.Sprintf(`{"id":"x","inputs":[{"name":"images","shape":[%d,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":%d}}]%s}`,
		n, n*3*320*320*4, extra))
}

func TestParseNumbers(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
		want []float32
		err  string
	}{
		{`[1, 2.5, -3e2]`, 3, []float32{1, 2.5, -300}, ""},
		{`[[1,2],[3,4]]`, 4, []float32{1, 2, 3, 4}, ""},
		{`[1,2]`, 3, nil, "has 2 elements"},
		{`[1,2,3,4]`, 3, nil, "more than"},
		{`[1,"a"]`, 2, nil, "expected a number"},
		{`[1,2`, 2, nil, "JSON array"},
		{`[1,2]]`, 2, nil, "unbalanced"},
		{`7`, 1, nil, "JSON array"},
		{`[1e99]`, 1, nil, "not a number"},
		{`[true]`, 1, nil, "not a number"},
		{`[null]`, 1, nil, "not a number"},
		{`[NaN, Infinity, -Infinity]`, 3, []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}, ""},
	} {
		got, err := parseNumbers([]byte(tc.data), tc.n)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.data, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.data, got, err, tc.want)
		}
	}
}

func TestKServeInferRefusesBadRequests(t *testing.T) {
	s := testServer(t, Options{})
	path := "/v2/models/" + testModel + "/infer"
	one := tensorBytes(1)
	for _, tc := range []struct {
		name   string
		body   []byte
		hlen   string
		status int
		text   string
	}{
		{"malformed JSON", []byte(`{"inputs":`), "", 400, "malformed JSON"},
		{"no inputs", []byte(`{"inputs":[]}`), "", 400, "expected 1 inputs"},
		{"unknown input", []byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`), "", 400, "unexpected inference input 'x'"},
		{"wrong datatype", []byte(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP16","data":[1]}]}`), "", 400, "data-type is 'FP16'"},
		{"wrong shape", []byte(`{"inputs":[{"name":"images","shape":[1,3,32,32],"datatype":"FP32","data":[1]}]}`), "", 400, "unexpected shape"},
		{"too few elements", []byte(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","data":[1,2,3]}]}`), "", 400, "fewer elements than"},
		{"no data", []byte(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32"}]}`), "", 400, "neither data nor binary_data_size"},
		{"header length past the body", append(inferHeader(1, ""), one...), "99999999", 400, "Inference-Header-Content-Length"},
		{"header length not a number", one, "abc", 400, "Inference-Header-Content-Length"},
		{"binary bytes missing", append(inferHeader(1, ""), one[:100]...), strconv.Itoa(len(inferHeader(1, ""))), 400, "remain in the body"},
		{"binary bytes left over", append(append(inferHeader(1, ""), one...), 1, 2, 3, 4), strconv.Itoa(len(inferHeader(1, ""))), 400, "after the last binary input"},
		{"raw body of the wrong size", one[:1000], "0", 400, "needs"},
		{"unknown output", append(inferHeader(1, `,"outputs":[{"name":"nope"}]`), one...), strconv.Itoa(len(inferHeader(1, `,"outputs":[{"name":"nope"}]`))), 400, "unexpected inference output"},
		{"classification extension", append(inferHeader(1, `,"outputs":[{"name":"output0","parameters":{"classification":3}}]`), one...),
			strconv.Itoa(len(inferHeader(1, `,"outputs":[{"name":"output0","parameters":{"classification":3}}]`))), 501, "classification"},
		{"bad timeout", []byte(`{"parameters":{"timeout":"soon"},"inputs":[]}`), "", 400, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, s, "POST", path, tc.body, HeaderInferenceHeaderLength, tc.hlen)
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || status != tc.status || !strings.Contains(e.Error, tc.text) {
				t.Fatalf("%d %s: want %d with %q", status, body, tc.status, tc.text)
			}
		})
	}
	if status, _, _ := do(t, s, "GET", "/v2/models/"+testModel+"/ready", nil); status != 200 {
		t.Fatalf("model not ready after bad requests: %d", status)
	}
}

// readBinaryResponse splits a binary tensor extension response.
func readBinaryResponse(t *testing.T, h http.Header, body []byte) (map[string]any, []byte) {
	t.Helper()
	n, err := strconv.Atoi(h.Get(HeaderInferenceHeaderLength))
	if err != nil || n > len(body) {
		t.Fatalf("header length %q for %d bytes", h.Get(HeaderInferenceHeaderLength), len(body))
	}
	var hdr map[string]any
	if err := json.Unmarshal(body[:n], &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr, body[n:]
}

func TestKServeBinaryJSONAndRawAgree(t *testing.T) {
	s := testServer(t, Options{})
	path := "/v2/models/" + testModel + "/versions/1/infer"
	two := tensorBytes(2)
	hdr := inferHeader(2, `,"parameters":{"binary_data_output":true}`)
	status, h, body := do(t, s, "POST", path, append(hdr, two...), HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)))
	if status != 200 || h.Get(HeaderBackend) != simulated.Name {
		t.Fatalf("%d %s", status, body)
	}
	meta, blob := readBinaryResponse(t, h, body)
	out := meta["outputs"].([]any)[0].(map[string]any)
	if fmt.Sprint(out["shape"]) != "[2 84 2100]" || len(blob) != 2*84*2100*4 || meta["id"] != "x" {
		t.Fatalf("binary answer %v with %d bytes", meta, len(blob))
	}

	// The same tensors as JSON data: the same numbers come back as JSON.
	vals := make([]string, 0, 2*3*320*320)
	for i := 0; i < len(two); i += 4 {
		vals = append(vals, strconv.FormatFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(two[i:]))), 'g', -1, 32))
	}
	js := []byte(`{"inputs":[{"name":"images","shape":[2,3,320,320],"datatype":"FP32","data":[` + strings.Join(vals, ",") + `]}]}`)
	status, _, body = do(t, s, "POST", path, js)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var res struct {
		Outputs []struct {
			Shape []int
			Data  []float32
		}
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Outputs) != 1 || len(res.Outputs[0].Data) != 2*84*2100 {
		t.Fatalf("json answer: %v", err)
	}
	for i, v := range res.Outputs[0].Data {
		if w := math.Float32frombits(binary.LittleEndian.Uint32(blob[i*4:])); v != w {
			t.Fatalf("element %d: json %v, binary %v", i, v, w)
		}
	}

	// A raw body is batch 1: its answer is the first item's.
	status, h, body = do(t, s, "POST", path, two[:len(two)/2], HeaderInferenceHeaderLength, "0")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	_, raw := readBinaryResponse(t, h, body)
	if !bytes.Equal(raw, blob[:len(blob)/2]) {
		t.Fatal("raw request's output differs from the first item of the batch")
	}
}

func TestKServeMetadataStatsAndRepository(t *testing.T) {
	s := testServer(t, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		text         string
	}{
		{"GET", "/v2", 200, `"binary_tensor_data"`},
		{"GET", "/v2/health/live", 200, ""},
		{"GET", "/v2/health/ready", 200, ""},
		{"GET", "/v2/models/" + testModel, 200, `"shape":[-1,3,320,320]`},
		{"GET", "/v2/models/" + testModel + "/versions/1", 200, `"versions":["1"]`},
		{"GET", "/v2/models/" + testModel + "/versions/2", 404, "not in the model repository"},
		{"GET", "/v2/models/yolov8n-cls-320/ready", 503, "UNAVAILABLE (not loaded)"},
		{"GET", "/v2/models/nope/ready", 404, `{"error":`},
		{"GET", "/v2/models/" + testModel + "/config", 200, `"max_batch_size":4`},
		{"GET", "/v2/models/stats", 200, `"model_stats":[{"name":"yolov8n-320"`},
		{"GET", "/v2/models/" + testModel + "/stats", 200, `"inference_count":0`},
		{"GET", "/v2/models/nope/stats", 404, ""},
		{"POST", "/v2/repository/index", 200, `{"name":"yolov8n-cls-320","version":"1","state":"UNAVAILABLE","reason":"not loaded"}`},
		{"POST", "/v2/repository/models/nope/load", 404, "not in the model repository"},
		{"POST", "/v2/repository/models/yolov8n-cls-320/load", 200, ""},
		{"GET", "/v2/models/yolov8n-cls-320/ready", 200, ""},
		{"POST", "/v2/repository/models/yolov8n-cls-320/unload", 200, ""},
		{"POST", "/v2/repository/index", 200, `{"name":"yolov8n-cls-320","version":"1","state":"UNAVAILABLE","reason":"unloaded"}`},
		{"POST", "/v2/repository/models/nope/unload", 404, ""},
		{"GET", "/v2/nothing-here", 404, `{"error":"no route GET /v2/nothing-here"}`},
	} {
		status, _, body := do(t, s, tc.method, tc.path, nil)
		if status != tc.status || !strings.Contains(string(body), tc.text) {
			t.Errorf("%s %s: %d %s; want %d with %s", tc.method, tc.path, status, body, tc.status, tc.text)
		}
	}
	status, _, body := do(t, s, "POST", "/v2/repository/index", []byte(`{"ready":true}`))
	if status != 200 || strings.Contains(string(body), "UNAVAILABLE") {
		t.Errorf("ready-only index: %s", body)
	}
}

func TestModelControlModesRefuseAPILoads(t *testing.T) {
	for _, mode := range []string{ControlNone, ControlPoll} {
		s := testServer(t, Options{ModelControl: mode})
		for _, path := range []string{"/v2/repository/models/yolov8n-cls-320/load", "/v2/repository/models/" + testModel + "/unload", "/model/clear"} {
			status, _, body := do(t, s, "POST", path, nil)
			if status != 400 || !strings.Contains(string(body), "model control mode is "+mode) {
				t.Errorf("%s %s: %d %s", mode, path, status, body)
			}
		}
		if _, ok := s.models.Get(testModel + "/1"); !ok {
			t.Errorf("%s: the model was unloaded", mode)
		}
	}
}

func gzipped(t *testing.T, data []byte, copies int) []byte {
	var one bytes.Buffer
	w := gzip.NewWriter(&one)
	w.Write(data)
	w.Close()
	return bytes.Repeat(one.Bytes(), copies) // gzip members concatenate into one stream
}

func TestCompressedRequestBodies(t *testing.T) {
	s := testServer(t, Options{MaxBodyBytes: 16 << 20})
	body := []byte(`{"ready":true}`)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(body)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	// A gigabyte of zeros: 1024 gzip members (or zstd frames) of 1 MiB each.
	mib := make([]byte, 1<<20)
	zstdBomb := bytes.Repeat(enc.EncodeAll(mib, nil), 1024)
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
	}{
		{"gzip", "gzip", gzipped(t, body, 1), 200},
		{"deflate", "deflate", z.Bytes(), 200},
		{"zstd", "zstd", enc.EncodeAll(body, nil), 200},
		{"identity", "identity", body, 200},
		{"gzip bomb", "gzip", gzipped(t, mib, 1024), 413},
		{"zstd bomb", "zstd", zstdBomb, 413},
		{"not gzip", "gzip", []byte("plain"), 400},
		{"truncated zstd", "zstd", enc.EncodeAll(mib, nil)[:20], 400},
		{"brotli", "br", body, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := do(t, s, "POST", "/v2/repository/index", tc.body, "Content-Encoding", tc.encoding)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, out, tc.status)
			}
			if status == 200 && !strings.Contains(string(out), `"state":"READY"`) {
				t.Fatalf("decoded body was not read: %s", out)
			}
		})
	}
}

func TestResponsesAreCompressedWhenAccepted(t *testing.T) {
	s := testServer(t, Options{})
	one := tensorBytes(1)
	hdr := inferHeader(1, `,"parameters":{"binary_data_output":true}`)
	req := append(hdr, one...)
	_, _, plain := do(t, s, "POST", "/v2/models/"+testModel+"/infer", req, HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)))
	dec, _ := zstd.NewReader(nil)
	for _, tc := range []struct{ accept, want string }{
		{"zstd", "zstd"}, {"gzip, deflate", "gzip"}, {"gzip;q=0, zstd;q=0.5", "zstd"}, {"zstd;q=0, gzip;q=0", ""}, {"br", ""},
	} {
		status, h, body := do(t, s, "POST", "/v2/models/"+testModel+"/infer", req,
			HeaderInferenceHeaderLength, strconv.Itoa(len(hdr)), "Accept-Encoding", tc.accept)
		if status != 200 || h.Get("Content-Encoding") != tc.want {
			t.Fatalf("Accept-Encoding %q: %d, Content-Encoding %q", tc.accept, status, h.Get("Content-Encoding"))
		}
		switch tc.want {
		case "zstd":
			body, _ = dec.DecodeAll(body, nil)
		case "gzip":
			r, _ := gzip.NewReader(bytes.NewReader(body))
			body, _ = io.ReadAll(r)
		}
		if !bytes.Equal(body, plain) {
			t.Fatalf("Accept-Encoding %q: the decoded answer differs", tc.accept)
		}
	}
}

func TestAPIKey(t *testing.T) {
	s := testServer(t, Options{APIKey: "s3cret"})
	for _, tc := range []struct {
		name, method, path string
		body               string
		headers            []string
		status             int
	}{
		{"health is open", "GET", "/v2/health/ready", "", nil, 200},
		{"roboflow health is open", "GET", "/healthz", "", nil, 200},
		{"no key", "GET", "/v2", "", nil, 401},
		{"metrics need it", "GET", "/metrics", "", nil, 401},
		{"wrong key", "GET", "/v2", "", []string{"X-API-Key", "s3cre"}, 401},
		{"header", "GET", "/v2", "", []string{"X-API-Key", "s3cret"}, 200},
		{"bearer", "GET", "/v2", "", []string{"Authorization", "Bearer s3cret"}, 200},
		{"query", "GET", "/v2?api_key=s3cret", "", nil, 200},
		{"roboflow body field", "POST", "/model/clear", `{"api_key":"s3cret"}`, []string{"Content-Type", "application/json"}, 200},
		{"roboflow body, wrong key", "POST", "/v2/repository/index", `{"api_key":"nope"}`, []string{"Content-Type", "application/json"}, 401},
		{"roboflow body, right key", "POST", "/v2/repository/index", `{"api_key":"s3cret"}`, []string{"Content-Type", "application/json"}, 200},
	} {
		status, _, body := do(t, s, tc.method, tc.path, []byte(tc.body), tc.headers...)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		if status == 401 && strings.Contains(string(body), "s3cret") {
			t.Errorf("%s: the error echoes the key", tc.name)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	s := testServer(t, Options{})
	_, h, _ := do(t, s, "GET", "/v2", nil, "X-Request-ID", "abc-123")
	if h.Get("X-Request-ID") != "abc-123" {
		t.Errorf("client id not echoed: %q", h.Get("X-Request-ID"))
	}
	_, h, _ = do(t, s, "GET", "/v2", nil, "X-Request-ID", strings.Repeat("x", 500))
	if id := h.Get("X-Request-ID"); len(id) != 36 {
		t.Errorf("oversized client id not replaced: %q", id)
	}
	_, h, _ = do(t, s, "GET", "/no/such/route/here", nil)
	if h.Get("X-Request-ID") == "" {
		t.Error("error answers carry no request id")
	}
}

func TestAppendFloatsRoundTrips(t *testing.T) {
	vals := []float32{0, 1.5, -2.25e-7, 3.4028235e38, 0.1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	got := string(appendFloats(nil, bytesOf(vals)))
	if want := "[0,1.5,-2.25e-07,3.4028235e+38,0.1,NaN,Infinity,-Infinity]"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	back, err := parseNumbers([]byte(got), len(vals))
	if err != nil || fmt.Sprint(back) != fmt.Sprint(vals) {
		t.Fatalf("read back %v %v", back, err)
	}
}

// TestKServeErrorStatuses: kserve's codes reach HTTP as one table maps
// them; an Internal error with a cause is classified by its cause, as on
// the Roboflow routes.
func TestKServeErrorStatuses(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{kserve.Errorf(kserve.InvalidArgument, "bad %s", "x"), 400, "bad x"},
		{kserve.Errorf(kserve.NotFound, "nope"), 404, "nope"},
		{kserve.Errorf(kserve.Unavailable, "later"), 503, "later"},
		{kserve.CodeOf(pipeline.ErrBusy), 429, "the model's queue is full: retry later"},
		{kserve.CodeOf(pipeline.ErrInflightFull), 429, "the server holds as many request bytes as --max-inflight-bytes allows: retry later"},
		{pipeline.ErrInflightFull, 429, "the server holds as many request bytes as --max-inflight-bytes allows: retry later"},
		{kserve.CodeOf(fmt.Errorf("a batch of 9: %w", pipeline.ErrTooLarge)), 413, "a batch of 9: request can never be admitted"},
		{kserve.CodeOf(context.DeadlineExceeded), 504, "request timed out"},
		{kserve.CodeOf(context.Canceled), 499, "request cancelled"},
		{kserve.Errorf(kserve.Unimplemented, "no"), 501, "no"},
		{kserve.Errorf(kserve.Unauthenticated, "key"), 401, "key"},
		{kserve.CodeOf(&pipeline.StageError{Stage: pipeline.StageInfer, Err: errors.New("boom")}), 500, "the model's engine failed on this request's batch"},
		{kserve.CodeOf(errors.New("secret")), 500, "internal error"},
		{kserve.CodeOf(fmt.Errorf("%w: m", model.ErrUnknownModel)), 404, "unknown model: m"},
	} {
		status, _, msg := classify(tc.err)
		if status != tc.status || msg != tc.msg {
			t.Errorf("%v: %d %q, want %d %q", tc.err, status, msg, tc.status, tc.msg)
		}
	}
}
