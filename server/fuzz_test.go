package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"slices"
	"strconv"
	"testing"

	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/model"
)

func tinyJPEGBase64(tb testing.TB) string {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 6)), nil); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// FuzzDecodeBase64: never panics, and whatever standard base64 (with or
// without a data-URI prefix) encodes comes back intact.
func FuzzDecodeBase64(f *testing.F) {
	f.Add([]byte("aGVsbG8="), false)
	f.Add([]byte("data:image/png;base64,aGVsbG8"), true)
	f.Add([]byte(" aG Vs\nbG8= "), false)
	f.Fuzz(func(t *testing.T, data []byte, prefix bool) {
		decodeBase64(data)
		if len(data) == 0 {
			return // refused as empty, rightly
		}
		enc := base64.StdEncoding.EncodeToString(data)
		if prefix {
			enc = "data:image/jpeg;base64," + enc
		}
		got, err := decodeBase64([]byte(enc))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %q: %q %v", data, got, err)
		}
	})
}

// FuzzParseImages: the "image" field, one reference or a list.
func FuzzParseImages(f *testing.F) {
	f.Add([]byte(`{"type":"base64","value":"aGVsbG8="}`))
	f.Add([]byte(`[{"type":"url","value":"http://x/y.jpg"},{"type":"base64","value":"AA"}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		refs, _, err := parseImages(raw)
		if err == nil && len(refs) == 0 {
			t.Fatal("no images and no error")
		}
	})
}

// FuzzParseNumbers: a KServe "data" array is exactly n numbers or an error.
func FuzzParseNumbers(f *testing.F) {
	f.Add([]byte(`[[1,2],[3,4.5e-3]]`), uint8(4))
	f.Add([]byte(`[NaN,-Infinity]`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		vals, err := parseNumbers(data, int(n))
		if err == nil && len(vals) != int(n) {
			t.Fatalf("%d values, want %d", len(vals), n)
		}
	})
}

// FuzzParseInfer: the KServe JSON header and the binary-body splitter. An
// accepted request holds exactly the bytes its shapes need.
func FuzzParseInfer(f *testing.F) {
	s := testServer(f, Options{})
	m, _ := s.models.Get(testModel + "/1")
	one := tensorBytes(1)
	hdr := inferHeader(1, `,"outputs":[{"name":"output0","parameters":{"binary_data":true}}]`)
	f.Add(append(hdr, one...), strconv.Itoa(len(hdr)))
	f.Add(one, "0")
	f.Add([]byte(`{"id":"a","parameters":{"timeout":5},"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","data":[1,2]}]}`), "")
	f.Add([]byte(`{"inputs":[{"name":"images","shape":[2,3,320,320],"datatype":"FP32","parameters":{"binary_data_size":8}}]}xxxxxxxx`), "95")
	f.Fuzz(func(t *testing.T, body []byte, headerLen string) {
		req, err := parseInfer(m, body, headerLen)
		if err != nil {
			return
		}
		tr, err := kserve.Prepare(m, req, nil) // checks each input's bytes against its shape
		if err != nil {
			return
		}
		defer tr.Release()
		if tr.Batch() < 1 {
			t.Fatalf("batch %d", tr.Batch())
		}
		for _, o := range tr.Outputs() {
			i := slices.IndexFunc(m.Engine.Outputs(), func(t model.TensorInfo) bool { return t.Name == o.Name })
			if info := m.Engine.Outputs()[i]; len(o.Data) != tr.Batch()*info.ElemsPerItem()*4 {
				t.Fatalf("output %s sized %d for batch %d", o.Name, len(o.Data), tr.Batch())
			}
		}
	})
}

var fuzzRoutes = []string{
	"/infer/object_detection", "/infer/classification", "/infer/keypoints_detection", "/infer/instance_segmentation",
	"/yolov8n-320/1?confidence=50", "/v2/models/yolov8n-320/infer", "/v2/repository/index", "/model/add",
}

// FuzzRequests sends any body to every POST route of the real app (on the
// simulated accelerator): the answer is never a 500, and every error is a
// JSON body.
func FuzzRequests(f *testing.F) {
	img := tinyJPEGBase64(f)
	for i := range fuzzRoutes {
		f.Add(uint8(i), []byte(`{"model_id":"yolov8n-320/1","image":{"type":"base64","value":"`+img+`"},"confidence":0.5,"visualize_predictions":true}`))
	}
	f.Add(uint8(0), []byte(`{"model_id":"yolov8n-320/1","image":[{"type":"base64","value":"`+img+`"},{"type":"base64","value":"AAAA"}],"class_filter":["person"],"max_detections":1}`))
	f.Add(uint8(4), []byte(img))
	f.Add(uint8(5), []byte(`{"inputs":[{"name":"images","shape":[1,3,320,320],"datatype":"FP32","data":[0]}]}`))
	s := testServer(f, Options{ModelControl: ControlNone, MaxImagePixels: 1 << 20})
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		ctype := "application/json"
		if path[1] == 'y' {
			ctype = "application/x-www-form-urlencoded"
		}
		status, _, out := do(t, s, "POST", path, body, "Content-Type", ctype)
		if status >= 500 {
			t.Fatalf("%s: %d %s", path, status, out)
		}
		if status != 200 && !json.Valid(out) {
			t.Fatalf("%s: %d with a non-JSON error body %q", path, status, out)
		}
	})
}
