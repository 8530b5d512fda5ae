package server

import (
	"fmt"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/vision"
)

// detectWork is one image of an object-detection request: it decodes
// straight into its batch slot and decodes its own slice of the output.
type detectWork struct {
	model      *pipeline.Model
	data       []byte
	nms        vision.NMSOptions
	maxPixels  int64
	autoOrient bool
	// dctScale lets the JPEG decoder downscale (see Options.JPEGDCTScaling).
	dctScale bool

	geo  vision.Geometry
	dets []vision.Detection
}

func resizeMode(m engines.ResizeMode) vision.ResizeMode {
	if m.IsFit() {
		return vision.Fit
	}
	return vision.Stretch
}

func (w *detectWork) Preprocess(in [][]float32) error {
	spec := w.model.Spec
	opts := vision.DecodeOptions{MaxPixels: w.maxPixels, AutoOrient: w.autoOrient}
	if w.dctScale {
		opts.TargetW, opts.TargetH, opts.TargetMode = spec.InputWidth, spec.InputHeight, resizeMode(spec.Pre.Resize)
	}
	img, err := vision.Decode(w.data, opts)
	if err != nil {
		return err
	}
	w.data = nil // the encoded bytes are no longer needed
	w.geo = vision.NewGeometry(resizeMode(spec.Pre.Resize), img.SrcW, img.SrcH, spec.InputWidth, spec.InputHeight)
	return vision.ToTensor(img, w.geo, vision.Normalize{Mean: spec.Pre.Mean, Std: spec.Pre.Std}, spec.Pre.Resize.PadValue(), in[0])
}

func (w *detectWork) Postprocess(out [][]float32) error {
	spec := w.model.Spec
	shape := w.model.Engine.Outputs()[0].Shape
	if len(shape) != 3 {
		return fmt.Errorf("detection output must be [batch, values, anchors], got %v", shape)
	}
	layout, anchors, width := vision.YOLOv8, int(shape[2]), int(shape[1])
	nc := width - 4
	if spec.OutputLayout == "yolov5" {
		layout, anchors, width = vision.YOLOv5, int(shape[1]), int(shape[2])
		nc = width - 5
	}
	if len(spec.ClassNames) > 0 && len(spec.ClassNames) < nc {
		nc = len(spec.ClassNames) // the rest are extras (e.g. mask coefficients)
	}
	extra := width - nc - 4
	if layout == vision.YOLOv5 {
		extra--
	}
	opts := w.nms
	opts.TrueIoU = spec.NMS == "ultralytics"
	dets, err := vision.DecodeBoxes(out[0], layout, anchors, nc, extra, opts)
	if err != nil {
		return err
	}
	vision.Rescale(dets, w.geo, 0, 0)
	w.dets = dets
	return nil
}
