package server

import (
	"fmt"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/vision"
)

// imageReq is what every image of one request shares.
type imageReq struct {
	model       *pipeline.Model
	inferenceID string
	start       time.Time
	maxPixels   int64
	autoOrient  bool
	// dctScale lets the JPEG decoder downscale (see Options.JPEGDCTScaling).
	dctScale bool
	// vis asks for a drawing of the predictions (nil: none).
	vis *visOptions
	// noCrop, noGray and noContrast are disable_preproc_static_crop,
	// _grayscale and _contrast.
	noCrop, noGray, noContrast bool
}

// preFlags are the request's disable_preproc_* switches.
type preFlags struct {
	DisableAutoOrient *bool `json:"disable_preproc_auto_orient"`
	DisableStaticCrop *bool `json:"disable_preproc_static_crop"`
	DisableGrayscale  *bool `json:"disable_preproc_grayscale"`
	DisableContrast   *bool `json:"disable_preproc_contrast"`
}

func isTrue(b *bool) bool { return b != nil && *b }

// newImageReq builds the shared part of a request for model m.
func (s *Server) newImageReq(m *pipeline.Model, id string, start time.Time, f preFlags, vis *visOptions) imageReq {
	return imageReq{
		vis: vis, noCrop: isTrue(f.DisableStaticCrop), noGray: isTrue(f.DisableGrayscale), noContrast: isTrue(f.DisableContrast),
		model: m, inferenceID: id, start: start, maxPixels: s.opts.MaxImagePixels,
		autoOrient: m.Spec.Pre.AutoOrient && !isTrue(f.DisableAutoOrient),
		dctScale:   s.opts.JPEGDCTScaling,
	}
}

// imageWork is one image on its way through a model: Preprocess decodes it
// straight into its batch slot; each task's Postprocess decodes its own
// slice of the output and encodes its JSON answer into body, all on
// pipeline workers.
type imageWork struct {
	ir   *imageReq
	data []byte
	geo  vision.Geometry
	body []byte
	img  *vision.Image // kept for drawing when the request asks for it
	jpeg []byte        // the drawing, for the legacy format=image
	// origW/origH are the decoded image's size; cropX/cropY where the
	// static crop (if any) starts in it: predictions shift by that much.
	origW, origH, cropX, cropY int
}

// detectReq adds what detection needs; keypoints models answer with
// their keypoints at or above kpConfidence.
type detectReq struct {
	imageReq
	nms          vision.NMSOptions
	filter       map[string]bool
	keypoints    bool
	kpConfidence float64
}

// detectWork is one image of an object-detection request.
type detectWork struct {
	imageWork
	req *detectReq
}

func (w *imageWork) Preprocess(in [][]float32) error {
	spec := w.ir.model.Spec
	crop := spec.Pre.StaticCrop != nil && !w.ir.noCrop
	gray := spec.Pre.Grayscale && !w.ir.noGray
	opts := vision.DecodeOptions{MaxPixels: w.ir.maxPixels, AutoOrient: w.ir.autoOrient}
	if w.ir.dctScale && !crop && !gray && spec.Pre.Contrast == "" {
		opts.TargetW, opts.TargetH, opts.TargetMode = spec.InputWidth, spec.InputHeight, spec.Pre.Resize
	}
	img, err := vision.Decode(w.data, opts)
	if err != nil {
		return err
	}
	w.data = nil // the encoded bytes are no longer needed
	w.origW, w.origH = img.SrcW, img.SrcH
	if w.ir.vis != nil {
		w.img = img // drawn on in Postprocess
	} else {
		defer img.Release()
	}
	// Roboflow's environment.json steps, in its order: static crop,
	// contrast, grayscale.
	contrast := spec.Pre.Contrast
	if w.ir.noContrast {
		contrast = ""
	}
	src := img
	if crop || gray || contrast != "" {
		x0, y0, x1, y1 := 0, 0, img.W, img.H
		if crop {
			c := spec.Pre.StaticCrop
			x0, y0, x1, y1 = vision.StaticCropRect(img.W, img.H, c.XMin, c.YMin, c.XMax, c.YMax)
			w.cropX, w.cropY = x0, y0
		}
		if crop || w.ir.vis != nil {
			// A copy: the steps below change pixels in place, and a
			// drawing is made on the original.
			if src, err = vision.Crop(img, x0, y0, x1, y1); err != nil {
				return err
			}
			defer src.Release()
		}
		switch contrast {
		case "Contrast Stretching":
			vision.ContrastStretch(src)
		case "Histogram Equalization":
			vision.EqualizeHist(src)
		case "Adaptive Equalization":
			vision.AdaptiveEqualize(src)
		}
		if gray {
			vision.Gray(src)
		}
	}
	w.geo = vision.NewGeometry(spec.Pre.Resize, src.SrcW, src.SrcH, spec.InputWidth, spec.InputHeight)
	return vision.ToTensor(src, w.geo, vision.Normalize{Mean: spec.Pre.Mean, Std: spec.Pre.Std}, spec.Pre.Resize.PadValue(), in[0])
}

// dims are the original image's, which answers report (static crop or not).
func (w *imageWork) dims() imageDims { return imageDims{w.origW, w.origH} }

func (w *detectWork) Postprocess(out [][]float32) error {
	m := w.req.model
	dets, err := decodeDetections(m, out[0], w.req.nms)
	if err != nil {
		return err
	}
	var kps [][]vision.Keypoint
	if w.req.keypoints {
		kps = make([][]vision.Keypoint, len(dets))
		for i, d := range dets {
			kps[i] = vision.Keypoints(d, len(m.Spec.KeypointNames), w.geo, w.cropX, w.cropY)
		}
	}
	vision.Rescale(dets, w.geo, w.cropX, w.cropY)
	preds := make([]odPrediction, 0, len(dets))
	kpPreds := make([]kpPrediction, 0, len(dets))
	var overlays []vision.Overlay
	for i, d := range dets {
		name := m.Spec.ClassName(d.ClassID)
		if len(w.req.filter) > 0 && !w.req.filter[name] {
			continue
		}
		x1, y1, x2, y2 := float64(d.X1), float64(d.Y1), float64(d.X2), float64(d.Y2)
		p := odPrediction{
			X: (x1 + x2) / 2, Y: (y1 + y2) / 2, Width: x2 - x1, Height: y2 - y1,
			Confidence: float64(d.Confidence), Class: name, ClassID: d.ClassID, DetectionID: uuid.NewString(),
		}
		if w.ir.vis != nil {
			o := boxOverlay(m.Spec, &p)
			if w.req.keypoints {
				for _, k := range kps[i] {
					if k.Confidence >= w.req.kpConfidence {
						o.Keypoints = append(o.Keypoints, vision.Point{X: k.X, Y: k.Y})
					}
				}
			}
			overlays = append(overlays, o)
		}
		if !w.req.keypoints {
			preds = append(preds, p)
			continue
		}
		kp := kpPrediction{odPrediction: p, Keypoints: make([]kpPoint, 0, len(kps[i]))}
		for _, k := range kps[i] {
			if k.Confidence < w.req.kpConfidence {
				continue
			}
			kp.Keypoints = append(kp.Keypoints, kpPoint{k.X, k.Y, k.Confidence, k.ID, keypointName(m.Spec, k.ID)})
		}
		kpPreds = append(kpPreds, kp)
	}
	vis, err := w.visualize(overlays)
	if err != nil {
		return err
	}
	image, elapsed := w.dims(), time.Since(w.req.start).Seconds()
	if w.req.keypoints {
		w.body, err = gojson.Marshal(kpResponse{InferenceID: w.ir.id(), Time: elapsed, Image: image, Predictions: kpPreds, Visualization: vis})
	} else {
		w.body, err = gojson.Marshal(odResponse{InferenceID: w.ir.id(), Time: elapsed, Image: image, Predictions: preds, Visualization: vis})
	}
	return err
}

// id is the request's inference_id, or a fresh one per image.
func (r *imageReq) id() string {
	if r.inferenceID != "" {
		return r.inferenceID
	}
	return uuid.NewString()
}

// decodeDetections reads one image's detection output per the model's
// layout and runs NMS.
func decodeDetections(m *pipeline.Model, out []float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	spec := m.Spec
	shape := m.Engine.Outputs()[0].Shape
	if len(shape) != 3 {
		return nil, fmt.Errorf("detection output must be [batch, values, anchors], got %v", shape)
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
	nms.TrueIoU = spec.NMS == "ultralytics"
	return vision.DecodeBoxes(out, layout, anchors, nc, extra, nms)
}
