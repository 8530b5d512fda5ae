package server

import (
	"fmt"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/engines"
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
}

// newImageReq builds the shared part of a request for model m.
func (s *Server) newImageReq(m *pipeline.Model, id string, start time.Time, disableAutoOrient *bool, vis *visOptions) imageReq {
	return imageReq{
		vis:   vis,
		model: m, inferenceID: id, start: start, maxPixels: s.opts.MaxImagePixels,
		autoOrient: m.Spec.Pre.AutoOrient && !(disableAutoOrient != nil && *disableAutoOrient),
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

func resizeMode(m engines.ResizeMode) vision.ResizeMode {
	if m.IsFit() {
		return vision.Fit
	}
	return vision.Stretch
}

func (w *imageWork) Preprocess(in [][]float32) error {
	spec := w.ir.model.Spec
	opts := vision.DecodeOptions{MaxPixels: w.ir.maxPixels, AutoOrient: w.ir.autoOrient}
	if w.ir.dctScale {
		opts.TargetW, opts.TargetH, opts.TargetMode = spec.InputWidth, spec.InputHeight, resizeMode(spec.Pre.Resize)
	}
	img, err := vision.Decode(w.data, opts)
	if err != nil {
		return err
	}
	w.data = nil // the encoded bytes are no longer needed
	if w.ir.vis != nil {
		w.img = img // drawn on in Postprocess
	} else {
		defer img.Release()
	}
	w.geo = vision.NewGeometry(resizeMode(spec.Pre.Resize), img.SrcW, img.SrcH, spec.InputWidth, spec.InputHeight)
	return vision.ToTensor(img, w.geo, vision.Normalize{Mean: spec.Pre.Mean, Std: spec.Pre.Std}, spec.Pre.Resize.PadValue(), in[0])
}

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
			kps[i] = vision.Keypoints(d, len(m.Spec.KeypointNames), w.geo, 0, 0)
		}
	}
	vision.Rescale(dets, w.geo, 0, 0)
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
	image, elapsed := imageDims{w.geo.SrcW, w.geo.SrcH}, time.Since(w.req.start).Seconds()
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
