package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/vision"
)

// segRequest is InstanceSegmentationInferenceRequest.
type segRequest struct {
	odRequest
	MaskDecodeMode     *string  `json:"mask_decode_mode"`
	TradeoffFactor     *float64 `json:"tradeoff_factor"`
	ResponseMaskFormat *string  `json:"response_mask_format"`
}

type segPoint struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// segPrediction is InstanceSegmentationPrediction: points (polygon
// format) or rle and mask_format "rle" (InstanceSegmentationRLEPrediction).
type segPrediction struct {
	odPrediction
	Points     *[]segPoint `json:"points,omitempty"`
	RLE        *rleMask    `json:"rle,omitempty"`
	MaskFormat string      `json:"mask_format,omitempty"`
}

// rleMask is COCO's compressed RLE of the mask in image pixels.
type rleMask struct {
	Size   [2]int `json:"size"` // height, width
	Counts string `json:"counts"`
}

type segResponse struct {
	InferenceID   string          `json:"inference_id,omitempty"`
	Time          float64         `json:"time"`
	Image         imageDims       `json:"image"`
	Predictions   []segPrediction `json:"predictions"`
	Visualization string          `json:"visualization,omitempty"`
}

// segOptions validates the mask fields: mask_decode_mode (default
// "accurate", Roboflow's), tradeoff_factor in [0, 1] and
// response_mask_format.
func segOptions(mode *string, tradeoff *float64, format *string) (vision.MaskMode, float64, bool, error) {
	m, t := "accurate", 0.0
	if mode != nil {
		m = *mode
	}
	mm, err := vision.ParseMaskMode(m)
	if err != nil {
		return 0, 0, false, badRequest("%v", err)
	}
	if tradeoff != nil {
		t = *tradeoff
		if math.IsNaN(t) || t < 0 || t > 1 {
			return 0, 0, false, badRequest("tradeoff_factor must be between 0 and 1, got %v", t)
		}
	}
	rle := false
	if format != nil {
		switch *format {
		case "polygon":
		case "rle":
			rle = true
		default:
			return 0, 0, false, badRequest("response_mask_format must be polygon or rle, got %q", *format)
		}
	}
	return mm, t, rle, nil
}

// segReq adds what segmentation needs to detection's.
type segReq struct {
	detectReq
	mode     vision.MaskMode
	tradeoff float64
	rle      bool
}

type segWork struct {
	imageWork
	req *segReq
}

func (w *segWork) Postprocess(out [][]float32) error {
	m := w.req.model
	ps := m.Engine.Outputs()[1].Shape
	protos := vision.Protos{Data: out[1], C: int(ps[1]), H: int(ps[2]), W: int(ps[3])}
	dets, err := decodeDetections(m, out[0], w.req.nms)
	if err != nil {
		return err
	}
	r := segResponse{InferenceID: w.ir.id(), Image: w.dims(), Predictions: make([]segPrediction, 0, len(dets))}
	var overlays []vision.Overlay
	inW, inH := m.Spec.InputWidth, m.Spec.InputHeight
	for _, d := range dets {
		name := m.Spec.ClassName(d.ClassID)
		if len(w.req.filter) > 0 && !w.req.filter[name] {
			continue // its mask is never computed
		}
		if len(d.Extra) < protos.C {
			return fmt.Errorf("detection has %d mask coefficients, the prototypes %d", len(d.Extra), protos.C)
		}
		mask := vision.DecodeMask(d.Extra[:protos.C], protos, [4]float32{d.X1, d.Y1, d.X2, d.Y2}, inW, inH, w.req.mode, w.req.tradeoff)
		var poly []vision.Point
		if !w.req.rle || w.ir.vis != nil {
			poly = vision.Polygon(vision.LongestExternalContour(mask), mask.W, mask.H, w.geo, w.cropX, w.cropY)
		}
		box := []vision.Detection{d}
		vision.Rescale(box, w.geo, w.cropX, w.cropY)
		x1, y1, x2, y2 := float64(box[0].X1), float64(box[0].Y1), float64(box[0].X2), float64(box[0].Y2)
		p := segPrediction{
			odPrediction: odPrediction{
				X: (x1 + x2) / 2, Y: (y1 + y2) / 2, Width: x2 - x1, Height: y2 - y1,
				Confidence: float64(d.Confidence), Class: name, ClassID: d.ClassID, DetectionID: uuid.NewString(),
			},
		}
		if w.req.rle {
			full := vision.MaskToImage(mask, w.geo, w.cropX, w.cropY, w.origW, w.origH)
			p.RLE = &rleMask{Size: [2]int{w.origH, w.origW}, Counts: vision.COCORLE(full, w.origW, w.origH)}
			p.MaskFormat = "rle"
		} else {
			pts := make([]segPoint, len(poly))
			for i, q := range poly {
				pts[i] = segPoint{q.X, q.Y}
			}
			p.Points = &pts
		}
		r.Predictions = append(r.Predictions, p)
		if w.ir.vis != nil {
			o := boxOverlay(m.Spec, &p.odPrediction)
			o.Polygon = poly
			overlays = append(overlays, o)
		}
	}
	if r.Visualization, err = w.visualize(overlays); err != nil {
		return err
	}
	r.Time = time.Since(w.req.start).Seconds()
	w.body, err = gojson.Marshal(r)
	return err
}

func (s *Server) inferSegmentation(c *fiber.Ctx) error {
	start := time.Now()
	var req segRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	mode, tradeoff, rle, err := segOptions(req.MaskDecodeMode, req.TradeoffFactor, req.ResponseMaskFormat)
	if err != nil {
		return err
	}
	return s.segment(c, start, &req.odRequest, mode, tradeoff, rle, images, list)
}

// segment is shared by /infer/instance_segmentation and the legacy route.
func (s *Server) segment(c *fiber.Ctx, start time.Time, req *odRequest, mode vision.MaskMode, tradeoff float64, rle bool, images [][]byte, list bool) error {
	nms, err := req.nmsOptions()
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.InstanceSegmentation)
	if err != nil {
		return err
	}
	if outs := m.Engine.Outputs(); len(outs) != 2 || len(outs[0].Shape) != 3 || len(outs[1].Shape) != 4 {
		return &apiError{Status: http.StatusInternalServerError, Type: "ModelError", Msg: fmt.Sprintf("segmentation model %s must output [batch, values, anchors] and [batch, masks, h, w] prototypes", m.Spec.ID())}
	}
	det, err := s.newDetectReq(m, req, start, nms)
	if err != nil {
		return err
	}
	shared := &segReq{detectReq: *det, mode: mode, tradeoff: tradeoff, rle: rle}
	return s.run(ctx, c, m, &shared.imageReq, images, list, func(iw imageWork) (pipeline.Work, *imageWork) {
		w := &segWork{imageWork: iw, req: shared}
		return w, &w.imageWork
	})
}

// legacySegOptions reads the mask fields from the legacy route's query.
func legacySegOptions(c *fiber.Ctx) (vision.MaskMode, float64, bool, error) {
	var mode, format *string
	var tradeoff *float64
	if v := c.Query("mask_decode_mode"); v != "" {
		mode = &v
	}
	if v := c.Query("response_mask_format"); v != "" {
		format = &v
	}
	if v := c.Query("tradeoff_factor"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, 0, false, badRequest("tradeoff_factor must be a number")
		}
		tradeoff = &f
	}
	return segOptions(mode, tradeoff, format)
}
