package vision

import (
	"errors"
	"fmt"
	"sync"

	"github.com/trtserve/trtserve/model"
)

// Errors callers map to HTTP statuses.
var (
	ErrUnsupportedFormat = errors.New("unsupported image format")
	ErrCorruptImage      = errors.New("corrupt image")
	ErrTooManyPixels     = errors.New("image too large")
)

// Image is decoded pixels, 3 bytes per pixel in RGB order, rows packed.
// SrcW/SrcH are the full-resolution size after orientation: when the
// decoder downscaled in the DCT domain, W/H are smaller than SrcW/SrcH, and
// all geometry (letterbox, box rescaling) is still computed on SrcW/SrcH.
type Image struct {
	Pix        []byte
	W, H       int
	SrcW, SrcH int
}

// pixPool recycles pixel buffers. A 1080p frame is 6 MB: at hundreds of
// images a second, fresh buffers make the garbage collector the busiest
// worker on the machine. A pooled buffer is reused when it is big enough;
// buffers of very large images are not kept.
var pixPool sync.Pool

const maxPooledPix = 32 << 20

// newPix returns n bytes of pixel memory, not zeroed: every decoder fills
// all of it.
func newPix(n int) []byte {
	if p, ok := pixPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

// Release hands the image's pixels back for reuse. The image must not be
// used afterwards; releasing twice is harmless.
func (img *Image) Release() {
	if img == nil || img.Pix == nil {
		return
	}
	if cap(img.Pix) <= maxPooledPix {
		p := img.Pix[:0]
		pixPool.Put(&p)
	}
	img.Pix = nil
}

// DecodeOptions control decoding.
type DecodeOptions struct {
	// MaxPixels refuses images whose header declares more pixels (0 = no
	// limit); checked before any pixel is decoded.
	MaxPixels int64
	// AutoOrient applies the EXIF Orientation tag.
	AutoOrient bool
	// TargetW/TargetH, when set, let the JPEG decoder downscale by 1/2, 1/4
	// or 1/8 while the image stays at least as large as its placement in a
	// TargetW x TargetH model input resized with TargetMode (the resize that
	// follows does the rest).
	TargetW, TargetH int
	TargetMode       model.ResizeMode
}

// need is the smallest decoded size that still covers the image's
// placement in the model input, for a stored image of w x h.
func (o DecodeOptions) need(w, h int, transposed bool) (int, int) {
	if o.TargetW <= 0 || o.TargetH <= 0 {
		return 0, 0
	}
	if transposed {
		w, h = h, w
	}
	g := NewGeometry(o.TargetMode, w, h, o.TargetW, o.TargetH)
	if transposed {
		return g.NH, g.NW
	}
	return g.NW, g.NH
}

// Decode decodes what OpenCV's cv2.imdecode reads in its default build
// (JPEG, PNG, WebP, BMP, TIFF, PNM, GIF) into the pixels IMREAD_COLOR gives, in
// RGB order; other formats OpenCV reads are refused naming the format.
// opts.AutoOrient applies EXIF orientation where OpenCV does (JPEG, PNG);
// a TIFF is always oriented, as OpenCV's TIFF reader always orients it.
func Decode(data []byte, opts DecodeOptions) (*Image, error) {
	format := Format(data)
	var img *Image
	var err error
	orient := 1
	switch format {
	case "jpeg":
		if opts.AutoOrient {
			orient = JPEGOrientation(data)
		}
		need := func(w, h int) (int, int) { return opts.need(w, h, orient >= 5) }
		img, err = decodeJPEG(data, opts.MaxPixels, need)
	case "png":
		if opts.AutoOrient {
			orient = pngOrientation(data)
		}
		img, err = decodePNG(data, opts.MaxPixels)
	case "webp":
		img, err = decodeWebP(data, opts.MaxPixels)
	case "bmp":
		img, err = decodeBMP(data, opts.MaxPixels)
	case "tiff":
		orient = tiffOrientation(data)
		img, err = decodeTIFF(data, opts.MaxPixels)
	case "pnm":
		img, err = decodePNM(data, opts.MaxPixels)
	case "gif":
		img, err = decodeGIF(data, opts.MaxPixels)
	default:
		return nil, errNotDecoded(format, data)
	}
	if err != nil {
		return nil, err
	}
	out := Orient(img, orient)
	if out != img {
		img.Release()
	}
	return out, nil
}

func checkPixels(w, h int, limit int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: %dx%d", ErrCorruptImage, w, h)
	}
	if limit > 0 && int64(w)*int64(h) > limit {
		return fmt.Errorf("%w: %dx%d is %d pixels, the limit is %d", ErrTooManyPixels, w, h, int64(w)*int64(h), limit)
	}
	return nil
}

// StaticCropRect is Roboflow's take_static_crop rectangle for a w x h
// image and percentages: int(pct / 100 * dimension).
func StaticCropRect(w, h int, xmin, ymin, xmax, ymax float64) (x0, y0, x1, y1 int) {
	x0, y0 = int(xmin/100*float64(w)), int(ymin/100*float64(h))
	x1, y1 = int(xmax/100*float64(w)), int(ymax/100*float64(h))
	x0, y0 = min(max(x0, 0), w), min(max(y0, 0), h)
	return x0, y0, min(max(x1, x0), w), min(max(y1, y0), h)
}

// Crop copies [x0, x1) x [y0, y1) of a full-resolution image (W == SrcW)
// into a new image of that size.
func Crop(img *Image, x0, y0, x1, y1 int) (*Image, error) {
	w, h := x1-x0, y1-y0
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: static crop leaves %dx%d pixels", ErrCorruptImage, w, h)
	}
	out := &Image{Pix: newPix(w * h * 3), W: w, H: h, SrcW: w, SrcH: h}
	for y := 0; y < h; y++ {
		copy(out.Pix[y*w*3:(y+1)*w*3], img.Pix[((y+y0)*img.W+x0)*3:((y+y0)*img.W+x1)*3])
	}
	return out, nil
}

// Gray turns the image grey in place as OpenCV 4's 8-bit BGR2GRAY then
// GRAY2BGR do: Y = (9798 R + 19235 G + 3735 B + 2^14) >> 15 on all three
// channels (checked against cv2 4.12 on random pixels: identical).
func Gray(img *Image) {
	p := img.Pix
	for i := 0; i+2 < len(p); i += 3 {
		y := uint8((9798*uint32(p[i]) + 19235*uint32(p[i+1]) + 3735*uint32(p[i+2]) + 1<<14) >> 15)
		p[i], p[i+1], p[i+2] = y, y, y
	}
}
