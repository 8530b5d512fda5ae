package tasks

import (
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Input is how the images of one request become tensors: the model's
// preprocessing, less the steps the request switched off.
type Input struct {
	Spec *model.Spec
	// MaxPixels refuses larger images before any pixel is decoded (0: no
	// limit).
	MaxPixels int64
	// DCTScale lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 when no
	// pixel-level step (static crop, contrast, grayscale) needs the full
	// image.
	DCTScale bool
	// Disable holds the request's disable_preproc_* switches.
	Disable Disable
	// KeepImage keeps the decoded image in the Frame for Draw.
	KeepImage bool
}

// Disable turns off preprocessing steps the model asks for.
type Disable struct {
	AutoOrient, StaticCrop, Grayscale, Contrast bool
}

// Frame is one image after Preprocess: where it sits in the model input,
// and what the answers report and map back to.
type Frame struct {
	Geo vision.Geometry
	// Width and Height are the decoded (and oriented) image's size, which
	// answers report whether or not a static crop was applied.
	Width, Height int
	// CropX and CropY are where the static crop starts in the image:
	// predictions shift by that much.
	CropX, CropY int
	// Image is the decoded image when Input.KeepImage; Draw releases it.
	Image *vision.Image
}

// Preprocess decodes an image and writes it into dst, its slot of the
// model's input batch: orient, then Roboflow's environment.json steps in
// its order (static crop, contrast, grayscale), then resize or letterbox
// and normalise.
func Preprocess(in *Input, data []byte, dst []float32) (Frame, error) {
	var f Frame
	spec := in.Spec
	crop := spec.Pre.StaticCrop != nil && !in.Disable.StaticCrop
	gray := spec.Pre.Grayscale && !in.Disable.Grayscale
	contrast := spec.Pre.Contrast
	if in.Disable.Contrast {
		contrast = model.ContrastNone
	}
	opts := vision.DecodeOptions{MaxPixels: in.MaxPixels, AutoOrient: spec.Pre.AutoOrient && !in.Disable.AutoOrient}
	if in.DCTScale && !crop && !gray && spec.Pre.Contrast == model.ContrastNone {
		opts.TargetW, opts.TargetH, opts.TargetMode = spec.InputWidth, spec.InputHeight, spec.Pre.Resize
	}
	img, err := vision.Decode(data, opts)
	if err != nil {
		return f, err
	}
	f.Width, f.Height = img.SrcW, img.SrcH
	if in.KeepImage {
		f.Image = img // drawn on after Postprocess
	} else {
		defer img.Release()
	}
	src := img
	if crop || gray || contrast != model.ContrastNone {
		x0, y0, x1, y1 := 0, 0, img.W, img.H
		if crop {
			c := spec.Pre.StaticCrop
			x0, y0, x1, y1 = vision.StaticCropRect(img.W, img.H, c.XMin, c.YMin, c.XMax, c.YMax)
			f.CropX, f.CropY = x0, y0
		}
		if crop || in.KeepImage {
			// A copy: the steps below change pixels in place, and a
			// drawing is made on the original.
			if src, err = vision.Crop(img, x0, y0, x1, y1); err != nil {
				return f, err
			}
			defer src.Release()
		}
		switch contrast {
		case model.ContrastStretching:
			vision.ContrastStretch(src)
		case model.HistogramEqualization:
			vision.EqualizeHist(src)
		case model.AdaptiveEqualization:
			vision.AdaptiveEqualize(src)
		}
		if gray {
			vision.Gray(src)
		}
	}
	f.Geo = vision.NewGeometry(spec.Pre.Resize, src.SrcW, src.SrcH, spec.InputWidth, spec.InputHeight)
	if spec.Pre.NormalizeFirst {
		return f, vision.ToTensorNormalizedFirst(src, f.Geo, vision.Normalize{Mean: spec.Pre.Mean, Std: spec.Pre.Std}, float32(spec.Pre.Resize.PadValue()), dst)
	}
	return f, vision.ToTensor(src, f.Geo, vision.Normalize{Mean: spec.Pre.Mean, Std: spec.Pre.Std}, spec.Pre.Resize.PadValue(), dst)
}

// Errors of images that cannot be decoded (vision's, named here so
// protocol adapters map them to statuses without importing vision).
var (
	ErrUnsupportedFormat = vision.ErrUnsupportedFormat
	ErrCorruptImage      = vision.ErrCorruptImage
	ErrTooManyPixels     = vision.ErrTooManyPixels
)
