package tasks

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// deeplabGolden is the part of testdata/goldens/deeplab.json.gz
// (scripts/fixtures/make_cls_semseg.py) the postprocessing test reads:
// inference-core 1.8.3's make_response on a synthetic logits tensor,
// resized to several image sizes.
type deeplabGolden struct {
	Postprocess       semanticPost `json:"postprocess"`
	PostprocessRandom semanticPost `json:"postprocess_random"`
	PostprocessTies   semanticPost `json:"postprocess_ties"`
}

// semanticPost is one logits tensor (stored when random) and the maps
// inference-core made of it at several sizes.
type semanticPost struct {
	Logits      string `json:"logits"`
	LogitsShape []int  `json:"logits_shape"`
	Cases       []struct {
		Height, Width int
		Segmentation  string `json:"segmentation"`
		Confidence    string `json:"confidence"`
		Present       []int  `json:"present_class_ids"`
	} `json:"cases"`
}

// gunzipB64 decodes the goldens' map encoding: base64 of gzipped bytes.
func gunzipB64(t *testing.T, s string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syntheticLogits is make_cls_semseg.py's synthetic_logits: k/8 for an
// integer k, every class equal where (x+y) % 9 == 0.
func syntheticLogits(nc, h, w int) []float32 {
	out := make([]float32, nc*h*w)
	for c := 0; c < nc; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				k := (x*7+y*13+c*29+(x*y)%11)%97 - 48
				if (x+y)%9 == 0 {
					k = 5
				}
				out[(c*h+y)*w+x] = float32(k) / 8
			}
		}
	}
	return out
}

// TestSemanticMatchesInferenceCore: the same logits in give the same class
// map, confidence map and present classes out as inference-core's
// make_response, byte for byte, at the model's size, smaller and larger
// (nearest resize both ways): on synthetic logits with ties (the first
// class wins), on 4096 pixels of random ones, and on 1024 pixels whose
// confidence x 255 sits a few ULPs from a rounding tie, where only
// SLEEF's exp, as torch's softmax calls it, gives inference-core's maps.
func TestSemanticMatchesInferenceCore(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "testdata", "goldens", "deeplab.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var g deeplabGolden
	if err := json.NewDecoder(zr).Decode(&g); err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		name string
		post semanticPost
	}{{"synthetic", g.Postprocess}, {"random", g.PostprocessRandom}, {"near rounding ties", g.PostprocessTies}} {
		s := set.post.LogitsShape
		nc, h, w := s[1], s[2], s[3]
		logits := syntheticLogits(nc, h, w)
		if set.post.Logits != "" {
			raw := gunzipB64(t, set.post.Logits)
			logits = make([]float32, len(raw)/4)
			for i := range logits {
				logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
		if len(logits) != nc*h*w || len(set.post.Cases) < 1 {
			t.Fatalf("%s: %d logits for %v, %d cases", set.name, len(logits), s, len(set.post.Cases))
		}
		checkSemantic(t, set.name, set.post, logits, nc, h, w)
	}
}

func checkSemantic(t *testing.T, name string, post semanticPost, logits []float32, nc, h, w int) {
	t.Helper()
	spec := &model.Spec{Task: model.SemanticSegmentation, ClassNames: names(nc), InputWidth: w, InputHeight: h}
	outputs := []model.TensorInfo{out("output", -1, int64(nc), int64(h), int64(w))}
	for _, c := range post.Cases {
		r, err := SemanticSegmentation{}.Postprocess(spec, outputs, [][]float32{logits}, &Frame{Width: c.Width, Height: c.Height}, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		seg, conf := gunzipB64(t, c.Segmentation), gunzipB64(t, c.Confidence)
		if r.Width != c.Width || r.Height != c.Height || !bytes.Equal(r.ClassIDs, seg) || !bytes.Equal(r.Confidence, conf) {
			t.Errorf("%s %dx%d: class map equal %v, confidence map equal %v (got %v / %v, want %v / %v)", name, c.Width, c.Height,
				bytes.Equal(r.ClassIDs, seg), bytes.Equal(r.Confidence, conf), r.ClassIDs, r.Confidence, seg, conf)
		}
		if !slices.Equal(r.Present, c.Present) {
			t.Errorf("%s %dx%d: present %v, want %v", name, c.Width, c.Height, r.Present, c.Present)
		}
	}
}

// TestResizeNearestEdges: torch's nearest rule on shapes where float32
// scale rounding decides the index (3 -> 7, 7 -> 3, 10 -> 31), equal size
// and exact doubling.
func TestResizeNearestEdges(t *testing.T) {
	for _, c := range []struct {
		in, out int
		want    []int
	}{
		{3, 7, []int{0, 0, 0, 1, 1, 2, 2}},
		{7, 3, []int{0, 2, 4}},
		{4, 4, []int{0, 1, 2, 3}},
		{3, 6, []int{0, 0, 1, 1, 2, 2}},
		{10, 31, []int{0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9}},
	} {
		if got := nearestIndex(c.in, c.out); !slices.Equal(got, c.want) {
			t.Errorf("%d -> %d: %v, want %v", c.in, c.out, got, c.want)
		}
	}
}

// TestSemanticValidate: per-pixel logits load; a classifier's output, a
// count that disagrees with the class names and more classes than an
// 8-bit mask holds are refused with the reason.
func TestSemanticValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		outputs []model.TensorInfo
		nc      int
		err     string
	}{
		{"deeplab", []model.TensorInfo{out("output", -1, 4, 128, 128)}, 4, ""},
		{"dynamic size", []model.TensorInfo{out("output", -1, 4, -1, -1)}, 4, ""},
		{"classifier", []model.TensorInfo{out("output", -1, 4)}, 4, "[batch, classes, height, width]"},
		{"names", []model.TensorInfo{out("output", -1, 5, 128, 128)}, 4, "names 4 classes but its output has 5"},
		{"too many", []model.TensorInfo{out("output", -1, 300, 8, 8)}, 0, "at most 256"},
	} {
		spec := &model.Spec{Task: model.SemanticSegmentation, ClassNames: names(c.nc), InputWidth: 128, InputHeight: 128}
		err := Validate(spec, c.outputs)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !errors.Is(err, model.ErrBadModel) || !bytes.Contains([]byte(err.Error()), []byte(c.err))):
			t.Errorf("%s: got %v, want an ErrBadModel saying %q", c.name, err, c.err)
		}
	}
}
