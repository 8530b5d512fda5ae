package server

import (
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
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

// maskOptions are the mask fields, validated.
type maskOptions struct {
	mode     tasks.MaskMode
	tradeoff float64
	rle      bool
}

// segOptions validates the mask fields: mask_decode_mode (default
// "accurate", Roboflow's), tradeoff_factor in [0, 1] and
// response_mask_format.
func segOptions(mode *string, tradeoff *float64, format *string) (maskOptions, error) {
	m, o := "accurate", maskOptions{}
	if mode != nil {
		m = *mode
	}
	mm, err := tasks.ParseMaskMode(m)
	if err != nil {
		return o, badRequest("%v", err)
	}
	o.mode = mm
	if tradeoff != nil {
		o.tradeoff = *tradeoff
		if math.IsNaN(o.tradeoff) || o.tradeoff < 0 || o.tradeoff > 1 {
			return maskOptions{}, badRequest("tradeoff_factor must be between 0 and 1, got %v", o.tradeoff)
		}
	}
	if format != nil {
		switch *format {
		case "polygon":
		case "rle":
			o.rle = true
		default:
			return maskOptions{}, badRequest("response_mask_format must be polygon or rle, got %q", *format)
		}
	}
	return o, nil
}

func encodeInstances(w *imageWork, instances []tasks.Instance, vis string) any {
	r := segResponse{InferenceID: w.ir.id(), Image: w.dims(), Predictions: make([]segPrediction, len(instances)), Visualization: vis}
	for i, in := range instances {
		p := segPrediction{odPrediction: prediction(in.Box)}
		if in.RLE != nil {
			p.RLE = &rleMask{Size: [2]int{in.RLE.Height, in.RLE.Width}, Counts: in.RLE.Counts}
			p.MaskFormat = "rle"
		} else {
			pts := make([]segPoint, len(in.Polygon))
			for j, q := range in.Polygon {
				pts[j] = segPoint{q.X, q.Y}
			}
			p.Points = &pts
		}
		r.Predictions[i] = p
	}
	r.Time = time.Since(w.ir.start).Seconds()
	return r
}

func (s *Server) inferSegmentation(c *fiber.Ctx) error {
	start := time.Now()
	var req segRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	mask, err := segOptions(req.MaskDecodeMode, req.TradeoffFactor, req.ResponseMaskFormat)
	if err != nil {
		return err
	}
	return s.segment(c, start, &req.odRequest, mask, images, list)
}

// segment is shared by /infer/instance_segmentation and the legacy route.
func (s *Server) segment(c *fiber.Ctx, start time.Time, req *odRequest, mask maskOptions, images []imageSrc, list bool) error {
	det, err := req.detectOptions()
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.InstanceSegmentation)
	if err != nil {
		return err
	}
	opts := tasks.SegmentOptions{DetectOptions: det, Mode: mask.mode, Tradeoff: mask.tradeoff, RLE: mask.rle}
	tr, err := newTaskReq(s, m, req.ID, start, req.preFlags, req.visFlags, tasks.Segmentation{}, opts, encodeInstances)
	if err != nil {
		return err
	}
	tr.opts.Polygon = !mask.rle || tr.vis != nil // a drawing outlines the masks
	return runTask(s, ctx, c, tr, images, list)
}

// legacySegment reads the mask fields from the legacy route's query.
func (s *Server) legacySegment(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error {
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
			return badRequest("tradeoff_factor must be a number")
		}
		tradeoff = &f
	}
	mask, err := segOptions(mode, tradeoff, format)
	if err != nil {
		return err
	}
	return s.segment(c, start, req, mask, images, false)
}
