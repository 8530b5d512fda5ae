package vision

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// formatFixtures is testdata/images/formats/opencv.json.gz, written by
// scripts/fixtures/make_format_fixtures.py: what cv2 4.12's imdecode
// (IMREAD_COLOR, with and without IMREAD_IGNORE_ORIENTATION) gives for
// each fixture image, BGR.
type formatFixtures struct {
	OpenCV string `json:"opencv"`
	Images []struct {
		File   string `json:"file"`
		Orient bool   `json:"orient"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		BGR    string `json:"bgr"`
	} `json:"images"`
}

const formatsDir = "../testdata/images/formats"

func loadFormatFixtures(t *testing.T) formatFixtures {
	t.Helper()
	f, err := os.Open(filepath.Join(formatsDir, "opencv.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var doc formatFixtures
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Images) == 0 {
		t.Fatal("no fixtures")
	}
	return doc
}

// refusedByTrtserve: images OpenCV decodes and trtserve refuses on
// purpose, with the word its error must contain.
var refusedByTrtserve = map[string]string{
	"refuse-jpeg2000.jp2":  "JPEG 2000", // OpenCV 4.12 reads it (OpenJPEG); no decoder here
	"refuse-tiff-jpeg.tif": "tiff",      // JPEG-in-TIFF: x/image/tiff has no JPEG codec
	// libjpeg fills the missing rows of a truncated JPEG with grey and
	// OpenCV returns that; trtserve refuses it rather than infer on grey.
	"refuse-jpeg-truncated.jpg": "jpeg",
}

// differsFromOpenCV: images trtserve decodes to other pixels than OpenCV
// on purpose; their size is still checked.
var differsFromOpenCV = map[string]string{
	"pam-rgba.pam": "OpenCV 4.12's PAM reader returns an RGB_ALPHA image black but for column 0",
}

// TestFormatsMatchOpenCV: every fixture decodes to exactly OpenCV's pixels
// (lossy formats included: libjpeg-turbo with OpenCV's settings and
// libwebp's upsampling are reproduced bit for bit), or is refused where
// OpenCV refuses it or where refusedByTrtserve says so.
func TestFormatsMatchOpenCV(t *testing.T) {
	doc := loadFormatFixtures(t)
	seen := map[string]bool{}
	for _, e := range doc.Images {
		seen[e.File] = true
		name := fmt.Sprintf("%s/orient=%v", e.File, e.Orient)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(formatsDir, e.File))
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(data, DecodeOptions{AutoOrient: e.Orient})
			if word, ok := refusedByTrtserve[e.File]; ok {
				if err == nil {
					t.Fatalf("decoded; want a refusal naming %q", word)
				}
				if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorruptImage) {
					t.Fatalf("error %v is neither ErrUnsupportedFormat nor ErrCorruptImage", err)
				}
				if !strings.Contains(err.Error(), word) {
					t.Fatalf("error %q does not name %q", err, word)
				}
				return
			}
			if e.BGR == "" {
				if err == nil {
					t.Fatalf("OpenCV refuses it; trtserve decoded %dx%d", img.W, img.H)
				}
				if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorruptImage) {
					t.Fatalf("error %v is neither ErrUnsupportedFormat nor ErrCorruptImage", err)
				}
				return
			}
			// A build without cgo decodes JPEG with Go's image/jpeg: no
			// arithmetic coding, chroma upsampled by replication instead of
			// libjpeg's triangle filter, a float IDCT. Its bound here is
			// measured, not promised (worst 23 on these fixtures).
			fallback := JPEGDecoder != "libjpeg-turbo" && Format(data) == "jpeg"
			tolerance := 0
			if fallback {
				if err != nil {
					t.Skipf("%s does not decode it: %v", JPEGDecoder, err)
				}
				tolerance = 32
			}
			if err != nil {
				t.Fatalf("OpenCV decodes it %dx%d; trtserve: %v", e.Width, e.Height, err)
			}
			defer img.Release()
			if img.W != e.Width || img.H != e.Height || img.SrcW != e.Width || img.SrcH != e.Height {
				t.Fatalf("size %dx%d (src %dx%d), OpenCV %dx%d", img.W, img.H, img.SrcW, img.SrcH, e.Width, e.Height)
			}
			if why, ok := differsFromOpenCV[e.File]; ok {
				t.Log("pixels not compared:", why)
				return
			}
			want, err := base64.StdEncoding.DecodeString(e.BGR)
			if err != nil {
				t.Fatal(err)
			}
			differ, worst, first := 0, 0, -1
			for i := 0; i < len(want); i += 3 {
				for c := 0; c < 3; c++ {
					d := int(img.Pix[i+2-c]) - int(want[i+c])
					if d < 0 {
						d = -d
					}
					if d > 0 {
						differ++
						if first < 0 {
							first = i / 3
						}
					}
					worst = max(worst, d)
				}
			}
			if worst > tolerance {
				fx, fy := first%e.Width, first/e.Width
				t.Fatalf("%d of %d samples differ from OpenCV %s, worst by %d; first at (%d,%d): got RGB %v, OpenCV BGR %v",
					differ, len(want), doc.OpenCV, worst, fx, fy, img.Pix[3*first:3*first+3], want[3*first:3*first+3])
			}
		})
	}
	for _, m := range []map[string]string{refusedByTrtserve, differsFromOpenCV} {
		for f := range m {
			if !seen[f] {
				t.Errorf("%s is listed as an exception but is not a fixture", f)
			}
		}
	}
}

// FuzzDecodeFormats is FuzzDecode seeded with every format fixture: the
// WebP, BMP, TIFF and PNM paths see hostile bytes too.
func FuzzDecodeFormats(f *testing.F) {
	entries, err := os.ReadDir(formatsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".gz") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(formatsDir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, true)
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte, orient bool) {
		img, err := Decode(data, DecodeOptions{MaxPixels: limit, AutoOrient: orient})
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrCorruptImage) && !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		defer img.Release()
		if img.W <= 0 || img.H <= 0 || int64(img.W)*int64(img.H) > limit || len(img.Pix) != img.W*img.H*3 {
			t.Fatalf("decoded %dx%d with %d bytes", img.W, img.H, len(img.Pix))
		}
	})
}

// TestCMYKJPEGScaledDecode: a CMYK JPEG takes the DCT-scaled path too
// (TJPF_CMYK at 1/2..1/8), keeping its full size as SrcW/SrcH.
func TestCMYKJPEGScaledDecode(t *testing.T) {
	if JPEGDecoder != "libjpeg-turbo" {
		t.Skipf("%s does not scale in the DCT domain", JPEGDecoder)
	}
	data, err := os.ReadFile(filepath.Join(formatsDir, "sdk-bus-cmyk.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := Decode(data, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Decode(data, DecodeOptions{TargetW: 64, TargetH: 64, TargetMode: model.Stretch})
	if err != nil {
		t.Fatal(err)
	}
	if img.W >= full.W || img.SrcW != full.W || img.SrcH != full.H {
		t.Fatalf("scaled %dx%d (src %dx%d), full %dx%d", img.W, img.H, img.SrcW, img.SrcH, full.W, full.H)
	}
	// The scaled image is the full one, averaged: mean colours agree.
	mean := func(m *Image) (s [3]float64) {
		for i, v := range m.Pix {
			s[i%3] += float64(v) / float64(m.W*m.H)
		}
		return s
	}
	a, b := mean(full), mean(img)
	for c := range a {
		if d := a[c] - b[c]; d > 2 || d < -2 {
			t.Fatalf("channel %d mean %.1f scaled vs %.1f full", c, b[c], a[c])
		}
	}
}

func TestFormatSniffing(t *testing.T) {
	for _, c := range []struct {
		data, want string
	}{
		{"\xff\xd8\xff\xe0", "jpeg"}, {"\x89PNG\r\n\x1a\n", "png"}, {"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"},
		{"BM\x00\x00", "bmp"}, {"II*\x00", "tiff"}, {"MM\x00*", "tiff"}, {"P6\n3 2\n255\n", "pnm"},
		{"P7\nWIDTH 1\n", "pnm"}, {"GIF89a", "gif"}, {"\x00\x00\x00\x1cftypavif", "avif"},
		{"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"}, {"#?RADIANCE\n", "hdr"}, {"PF\n", "pfm"},
		{"P8\n", ""}, {"hello", ""}, {"", ""},
	} {
		if got := Format([]byte(c.data)); got != c.want {
			t.Errorf("Format(%q) = %q, want %q", c.data, got, c.want)
		}
	}
	_, err := Decode([]byte("\x00\x00\x00\x1cftypavif\x00\x00"), DecodeOptions{})
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "AVIF") {
		t.Fatalf("AVIF: %v", err)
	}
}
