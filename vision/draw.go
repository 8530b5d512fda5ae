package vision

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Overlay is one prediction to draw on an image, in image pixels.
type Overlay struct {
	Box       [4]float64 // x1, y1, x2, y2; all zero for none (classification)
	Color     color.RGBA
	Label     string
	Polygon   []Point
	Keypoints []Point
}

// Palette is the default class colour cycle (when the model has no COLORS).
var Palette = []color.RGBA{
	{0xA3, 0x51, 0xFB, 255}, {0xFF, 0x40, 0x40, 255}, {0xFF, 0xA1, 0xA0, 255}, {0xFF, 0x76, 0x33, 255},
	{0xFF, 0xB6, 0x33, 255}, {0xD1, 0xD4, 0x35, 255}, {0x4C, 0xFB, 0x12, 255}, {0x94, 0xCF, 0x1A, 255},
	{0x40, 0xDE, 0x8A, 255}, {0x1B, 0x96, 0x40, 255}, {0x00, 0xD6, 0xC1, 255}, {0x2E, 0x9C, 0xAA, 255},
	{0x00, 0xC4, 0xFF, 255}, {0x36, 0x4D, 0xAB, 255}, {0x00, 0x57, 0xFF, 255}, {0x57, 0x2F, 0xFF, 255},
}

// ClassColor is the colour of class id: the model's COLORS entry for its
// name ("#RRGGBB") when there is one, else the palette's.
func ClassColor(colors map[string]string, name string, id int) color.RGBA {
	if hex, ok := colors[name]; ok {
		if v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32); err == nil && len(strings.TrimPrefix(hex, "#")) == 6 {
			return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}
		}
	}
	return Palette[((id%len(Palette))+len(Palette))%len(Palette)]
}

// Draw renders overlays on a copy of img: mask polygons filled at 40%
// opacity, boxes with the given stroke, keypoints as dots, and (labels)
// each label on a filled tab above its box (top-left for box-less ones).
func Draw(img *Image, overlays []Overlay, stroke int, labels bool) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i, j := 0, 0; i < len(img.Pix); i, j = i+3, j+4 {
		out.Pix[j], out.Pix[j+1], out.Pix[j+2], out.Pix[j+3] = img.Pix[i], img.Pix[i+1], img.Pix[i+2], 255
	}
	stroke = max(stroke, 1)
	// Drawing happens on the decoded image, which may be a DCT-downscaled
	// one: scale from original-image pixels.
	sx, sy := float64(img.W)/float64(max(img.SrcW, 1)), float64(img.H)/float64(max(img.SrcH, 1))
	for _, o := range overlays {
		if len(o.Polygon) >= 3 {
			fillPolygon(out, o.Polygon, sx, sy, o.Color, 0.4)
		}
	}
	for _, o := range overlays {
		if o.Box != ([4]float64{}) {
			x1, y1, x2, y2 := int(o.Box[0]*sx), int(o.Box[1]*sy), int(o.Box[2]*sx), int(o.Box[3]*sy)
			fillRect(out, x1, y1, x2, y1+stroke, o.Color)
			fillRect(out, x1, y2-stroke, x2, y2, o.Color)
			fillRect(out, x1, y1, x1+stroke, y2, o.Color)
			fillRect(out, x2-stroke, y1, x2, y2, o.Color)
		}
		r := stroke + 2
		for _, k := range o.Keypoints {
			cx, cy := int(k.X*sx), int(k.Y*sy)
			for y := -r; y <= r; y++ {
				for x := -r; x <= r; x++ {
					if x*x+y*y <= r*r {
						setPix(out, cx+x, cy+y, o.Color)
					}
				}
			}
		}
		if labels && o.Label != "" {
			face := basicfont.Face7x13
			w := font.MeasureString(face, o.Label).Ceil() + 4
			x, y := int(o.Box[0]*sx), int(o.Box[1]*sy)-15
			if y < 0 {
				y = int(o.Box[1] * sy)
			}
			fillRect(out, x, y, x+w, y+15, o.Color)
			d := font.Drawer{Dst: out, Src: image.White, Face: face, Dot: fixed.P(x+2, y+12)}
			d.DrawString(o.Label)
		}
	}
	return out
}

func setPix(img *image.RGBA, x, y int, c color.RGBA) {
	if image.Pt(x, y).In(img.Rect) {
		img.SetRGBA(x, y, c)
	}
}

func fillRect(img *image.RGBA, x1, y1, x2, y2 int, c color.RGBA) {
	r := image.Rect(x1, y1, x2, y2).Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// fillPolygon blends c over the polygon's inside (even-odd, scanline at
// pixel centres).
func fillPolygon(img *image.RGBA, poly []Point, sx, sy float64, c color.RGBA, alpha float64) {
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, p := range poly {
		minY, maxY = math.Min(minY, p.Y*sy), math.Max(maxY, p.Y*sy)
	}
	var xs []float64
	for y := max(int(minY), img.Rect.Min.Y); y <= min(int(maxY), img.Rect.Max.Y-1); y++ {
		fy := float64(y) + 0.5
		xs = xs[:0]
		for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
			ay, by := poly[i].Y*sy, poly[j].Y*sy
			if (ay > fy) != (by > fy) {
				ax, bx := poly[i].X*sx, poly[j].X*sx
				xs = append(xs, ax+(fy-ay)*(bx-ax)/(by-ay))
			}
		}
		for i := 1; i < len(xs); i++ { // insertion sort: few crossings a row
			for k := i; k > 0 && xs[k] < xs[k-1]; k-- {
				xs[k], xs[k-1] = xs[k-1], xs[k]
			}
		}
		for i := 0; i+1 < len(xs); i += 2 {
			for x := max(int(math.Ceil(xs[i]-0.5)), 0); x < min(int(math.Ceil(xs[i+1]-0.5)), img.Rect.Max.X); x++ {
				o := img.PixOffset(x, y)
				p := img.Pix[o : o+3]
				p[0] = uint8(float64(p[0])*(1-alpha) + float64(c.R)*alpha)
				p[1] = uint8(float64(p[1])*(1-alpha) + float64(c.G)*alpha)
				p[2] = uint8(float64(p[2])*(1-alpha) + float64(c.B)*alpha)
			}
		}
	}
}

// EncodeJPEG encodes a drawn image (quality 90).
func EncodeJPEG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
