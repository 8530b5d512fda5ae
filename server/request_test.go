package server

import (
	"bytes"
	"encoding/base64"
	"runtime"
	"strconv"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/trtserve/trtserve/pipeline"
)

// The disable_preproc_* switches live in an embedded struct: make sure
// the JSON decoder fills them for every request type.
func TestRequestsDecodePreprocessingSwitches(t *testing.T) {
	body := []byte(`{"model_id":"m/1","disable_preproc_auto_orient":true,"disable_preproc_static_crop":true,
		"disable_preproc_grayscale":false,"disable_preproc_contrast":true,"keypoint_confidence":0.5,"mask_decode_mode":"fast"}`)
	var od odRequest
	var cls clsRequest
	var kp kpRequest
	var seg segRequest
	for _, v := range []any{&od, &cls, &kp, &seg} {
		if err := gojson.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range map[string]preFlags{"od": od.preFlags, "cls": cls.preFlags, "kp": kp.preFlags, "seg": seg.preFlags} {
		if !isTrue(f.DisableAutoOrient) || !isTrue(f.DisableStaticCrop) || f.DisableGrayscale == nil || *f.DisableGrayscale || !isTrue(f.DisableContrast) {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if kp.KeypointConfidence == nil || *kp.KeypointConfidence != 0.5 || kp.ModelID != "m/1" {
		t.Errorf("keypoints request %+v", kp)
	}
	if seg.MaskDecodeMode == nil || *seg.MaskDecodeMode != "fast" || seg.ModelID != "m/1" {
		t.Errorf("segmentation request %+v", seg)
	}
}

// The in-place reading of the "image" field agrees with the JSON decoder on
// every shape it takes, and leaves each value where it is in the body; any
// other shape goes to the general parser (which words the errors).
func TestImageFieldInPlace(t *testing.T) {
	inPlace := []string{
		`{"model_id":"m/1","image":{"type":"base64","value":"aGVsbG8="}}`,
		`{"image":[{"type":"base64","value":"aGVsbG8="},{"value":"http://x/y.jpg","type":"url"}],"confidence":0.5}`,
		" {\n \"image\" : { \"value\" : \"aGVs bG8=\" } , \"x\": [1,{\"a\":\"}]\\\"\"}], \"y\":\"\\\"image\\\"\" } ",
		`{"image":{"value":"aGVsbG8="}}`,
	}
	general := []string{
		`{"image":{"type":"base64","value":"aGVs\/bG8="}}`,
		`{"image":{"type":"base64","value":"a","value":"b"}}`,
		`{"image":{"type":"base64","value":"a","extra":1}}`,
		`{"image":{"type":"base64"}}`,
		`{"image":[],"model_id":"m"}`,
		`{"image":"aGVsbG8="}`,
		`{"image":{"type":"base64","value":"a"},"Image":{"type":"base64","value":"b"}}`,
		`{"image":{"type":"base64","value":null}}`,
		`{"im\u0061ge":{"type":"base64","value":"a"}}`,
		`{"IMAGE":{"type":"base64","value":"aGVsbG8="},"model_id":"m/1"}`,
		`{"image":{"Type":"base64","value":"aGVsbG8="}}`,
		`[1,2]`,
		`{"image":{"type":"base64","value":"a"}} trailing`,
		`{"image":{"type":"base64","value":"a"}`,
		`{"model_id":"m/1"}`,
		``,
	}
	read := func(body []byte) ([]imageRef, bool, bool) {
		start, end, ok := imageField(body)
		if !ok {
			return nil, false, false
		}
		return imageRefsInPlace(body[start:end])
	}
	for _, b := range inPlace {
		body := []byte(b)
		refs, list, ok := read(body)
		if !ok {
			t.Fatalf("%s: not read in place", b)
		}
		var req odRequest
		if err := gojson.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		want, wantList, err := parseImages(req.Image)
		if err != nil || list != wantList || len(refs) != len(want) {
			t.Fatalf("%s: in place %d refs (list %v), decoder %d (list %v, %v)", b, len(refs), list, len(want), wantList, err)
		}
		for i := range refs {
			if refs[i].Type != want[i].Type || string(refs[i].Value) != string(want[i].Value) {
				t.Fatalf("%s: ref %d in place %q %s, decoder %q %s", b, i, refs[i].Type, refs[i].Value, want[i].Type, want[i].Value)
			}
			at := bytes.Index(body, refs[i].Value)
			if at < 0 || &body[at] != &refs[i].Value[0] {
				t.Fatalf("%s: ref %d's value is a copy, not the body's bytes", b, i)
			}
		}
	}
	for _, b := range general {
		if _, _, ok := read([]byte(b)); ok {
			t.Fatalf("%s: read in place, want the general parser", b)
		}
	}
}

// decodeBase64Before is decodeBase64 as it was before images were decoded
// lazily: every encoding tried on a whitespace-free copy.
func decodeBase64Before(s []byte) ([]byte, bool) {
	s = bytes.TrimSpace(s)
	if loc := dataURI.FindIndex(s); loc != nil {
		s = s[loc[1]:]
	}
	clean := make([]byte, 0, len(s))
	for _, b := range s {
		if b != '\n' && b != '\r' && b != ' ' && b != '\t' {
			clean = append(clean, b)
		}
	}
	if len(clean) == 0 {
		return nil, false
	}
	for _, enc := range base64Encodings {
		out := make([]byte, enc.DecodedLen(len(clean)))
		if n, err := enc.Decode(out, clean); err == nil {
			return out[:n], true
		}
	}
	return nil, false
}

// Decoding in the decode worker, into a reused buffer, accepts exactly
// what parsing did before and gives the same bytes.
func TestLazyBase64MatchesEager(t *testing.T) {
	jpg := tinyJPEGBase64(t)
	cases := []string{
		"aGVsbG8=", "aGVsbG8", "aGVsbA==", "aGVsbA", "aGVs bG8=", " aG Vs\nbG8= ", "aGVs\r\nbG8=", "aGVs\tbG8",
		"data:image/png;base64,aGVsbG8", "data:image/jpeg;base64," + jpg, jpg, "_-8=", "_-8", "+/8=", "+/8",
		"+-8=", "aGVsbG8==", "a", "ab=", "abc=d", "====", "", "   ", "data:image/png;base64,", "aGVs\x00bG8=",
		"aGVsbG8=\n", "YQ=\n=", "YQ\n==",
	}
	scratch := make([]byte, 0, 4)
	for _, c := range cases {
		want, wantOK := decodeBase64Before([]byte(c))
		got, err := decodeBase64([]byte(c))
		if (err == nil) != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("%q: decodeBase64 %q %v, before %q %v", c, got, err, want, wantOK)
		}
		text, err := base64Text([]byte(c))
		if err != nil {
			if wantOK {
				t.Fatalf("%q: refused at parse time: %v", c, err)
			}
			continue
		}
		got, err = decodeBase64To(scratch[:0], text)
		if (err == nil) != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("%q: into scratch %q %v, before %q %v", c, got, err, want, wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), "not valid base64") {
			t.Fatalf("%q: %v", c, err)
		}
	}
}

// imagesBody is a detection request for n copies of the test JPEG.
func imagesBody(t *testing.T, n int) []byte {
	img := tinyJPEGBase64(t)
	refs := make([]string, n)
	for i := range refs {
		refs[i] = `{"type":"base64","value":"` + img + `"}`
	}
	return []byte(`{"model_id":"` + testModel + `/1","image":[` + strings.Join(refs, ",") + `]}`)
}

// A request naming more images than --max-images-per-request can never be
// admitted: 413 naming the limit, before anything is read; one at the
// limit is served.
func TestTooManyImagesIs413(t *testing.T) {
	s := testServer(t, Options{MaxImagesPerRequest: 3})
	status, _, out := do(t, s, "POST", "/infer/object_detection", imagesBody(t, 4), "Content-Type", "application/json")
	var e errorBody
	if status != 413 || gojson.Unmarshal(out, &e) != nil || e.ErrorType != "RequestTooLarge" ||
		!strings.Contains(e.Message, "4 images") || !strings.Contains(e.Message, "at most 3 images") || !strings.Contains(e.Message, "--max-images-per-request") {
		t.Fatalf("4 images over a limit of 3: %d %s", status, out)
	}
	if status, _, out := do(t, s, "POST", "/infer/object_detection", imagesBody(t, 3), "Content-Type", "application/json"); status != 200 {
		t.Fatalf("3 images: %d %s", status, out)
	}
	// An invalid image after the limit is not even looked at.
	body := bytes.Replace(imagesBody(t, 4), []byte(`"type":"base64"`), []byte(`"type":"numpy"`), 1)
	if status, _, out := do(t, s, "POST", "/infer/object_detection", body, "Content-Type", "application/json"); status != 413 {
		t.Fatalf("4 images, one of them refused type: %d %s", status, out)
	}
}

// The bytes requests hold while they wait, their encoded images, are
// admitted against --max-inflight-bytes: a request whose images exceed the
// bound gets 413 naming it (before they are decoded), one that does not
// fit beside those admitted gets 429 with Retry-After, and every byte
// comes back once the request is answered.
func TestInflightBytesBound(t *testing.T) {
	jpg, err := base64.StdEncoding.DecodeString(tinyJPEGBase64(t))
	if err != nil {
		t.Fatal(err)
	}
	body := imagesBody(t, 2)
	need := int64(2 * len(jpg))
	small := pipeline.NewByteBudget(need - 1)
	s := testServer(t, Options{InflightBytes: small})
	status, _, out := do(t, s, "POST", "/infer/object_detection", body, "Content-Type", "application/json")
	if status != 413 || !strings.Contains(string(out), "--max-inflight-bytes") || !strings.Contains(string(out), strconv.FormatInt(need-1, 10)) {
		t.Fatalf("images over the bound: %d %s", status, out)
	}

	b := pipeline.NewByteBudget(3 * need)
	s = testServer(t, Options{InflightBytes: b})
	if err := b.Acquire(3*need - need/2); err != nil { // as if others were being served
		t.Fatal(err)
	}
	status, hdr, out := do(t, s, "POST", "/infer/object_detection", body, "Content-Type", "application/json")
	if status != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(string(out), pipeline.ErrInflightFull.Error()) {
		t.Fatalf("no room now: %d %s", status, out)
	}
	b.Release(3*need - need/2)
	b = pipeline.NewByteBudget(3 * need) // a fresh peak
	s = testServer(t, Options{InflightBytes: b, LegacyRoutes: true})
	if status, _, out := do(t, s, "POST", "/infer/object_detection", body, "Content-Type", "application/json"); status != 200 {
		t.Fatalf("room again: %d %s", status, out)
	}
	if b.InUse() != 0 || b.Peak() != need {
		t.Fatalf("in use %d after the answer, peak %d, want %d", b.InUse(), b.Peak(), need)
	}
	// The legacy route counts its image the same way.
	if status, _, out := do(t, s, "POST", "/"+testModel+"/1", []byte(tinyJPEGBase64(t)), "Content-Type", "application/x-www-form-urlencoded"); status != 200 {
		t.Fatalf("legacy route: %d %s", status, out)
	}
	if b.InUse() != 0 || b.Peak() != need {
		t.Fatalf("legacy route: in use %d, peak %d", b.InUse(), b.Peak())
	}
}

// FuzzImageFieldInPlace: whatever body the in-place path accepts (the image
// value read in place, the rest decoded), the JSON decoder accepts too, with
// the same images.
func FuzzImageFieldInPlace(f *testing.F) {
	f.Add([]byte(`{"model_id":"m/1","image":{"type":"base64","value":"aGVsbG8="}}`))
	f.Add([]byte(`{"image":[{"type":"base64","value":"aGVsbG8="},{"value":"u","type":"url"}],"confidence":0.5,"x":{"y":["]"]}}`))
	f.Add([]byte(`{"image":{"type":"base64","value":"a\"b"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		start, end, ok := imageField(body)
		if !ok {
			return
		}
		refs, list, ok := imageRefsInPlace(body[start:end])
		if !ok {
			return
		}
		rest := append(append(append([]byte{}, body[:start]...), "null"...), body[end:]...)
		var req odRequest
		if gojson.Unmarshal(rest, &req) != nil {
			return
		}
		var whole odRequest
		if err := gojson.Unmarshal(body, &whole); err != nil {
			t.Fatalf("read in place, but the decoder refuses %q: %v", body, err)
		}
		want, wantList, err := parseImages(whole.Image)
		if err != nil || list != wantList || len(want) != len(refs) {
			t.Fatalf("%q: in place %d refs (list %v), decoder %d (list %v, %v)", body, len(refs), list, len(want), wantList, err)
		}
		for i := range refs {
			if refs[i].Type != want[i].Type || !bytes.Equal(refs[i].Value, want[i].Value) {
				t.Fatalf("%q: ref %d in place %q %s, decoder %q %s", body, i, refs[i].Type, refs[i].Value, want[i].Type, want[i].Value)
			}
		}
	})
}

// The API key in a Roboflow body is found whatever the body's shape, and
// finding it in a big body costs a few hundred bytes, not a copy of the
// body (the decoder copies its whole input; the image value is cut out
// first).
func TestBodyKey(t *testing.T) {
	big := strings.Repeat("A", 1<<20)
	cases := []struct {
		name, body, want string
	}{
		{"key before the image", `{"api_key":"k1","image":{"type":"base64","value":"` + big + `"}}`, "k1"},
		{"key after the image", `{"image":[{"type":"base64","value":"` + big + `"}],"api_key":"k2"}`, "k2"},
		{"escaped key", `{"api_key":"k\u0033","image":{"type":"base64","value":"AA"}}`, "k3"},
		{"no image field", `{"api_key":"k4"}`, "k4"},
		{"image of another shape", `{"api_key":"k5","image":123}`, "k5"},
		{"two image members", `{"api_key":"k6","image":1,"image":2}`, "k6"},
		{"no key", `{"image":{"type":"base64","value":"AA"}}`, ""},
		{"malformed", `{"api_key":"k7",`, ""},
		{"not an object", `"k8"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := bodyKey([]byte(tc.body)); got != tc.want {
				t.Errorf("bodyKey = %q, want %q", got, tc.want)
			}
		})
	}
	body := []byte(cases[0].body)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if bodyKey(body) != "k1" {
			t.Fatal("key not found")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 4096 {
		t.Errorf("bodyKey allocated %d bytes per call on a %d-byte body, want at most 4096", per, len(body))
	}
}
