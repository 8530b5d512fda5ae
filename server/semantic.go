package server

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"strconv"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
)

// semRequest is SemanticSegmentationInferenceRequest. inference-core 1.8.3
// validates confidence but its semantic segmentation reads no option, and
// it preprocesses without the request's disable_preproc_* switches: they
// are accepted here and, as there, change nothing.
type semRequest struct {
	ID                 string            `json:"id"`
	ModelID            string            `json:"model_id"`
	APIKey             *string           `json:"api_key"`
	Image              gojson.RawMessage `json:"image"`
	Confidence         gojson.RawMessage `json:"confidence"`
	ResponseMaskFormat *string           `json:"response_mask_format"`
	preFlags
	visFlags
}

// semPrediction is SemanticSegmentationPrediction: both masks as base64
// PNGs (8-bit grey, one value per pixel of the image), the class of each
// pixel value, and the values present in the class mask. (inference-core
// passes it an image too, which the model does not declare: pydantic drops
// it, so the answer has none.)
type semPrediction struct {
	SegmentationMask string            `json:"segmentation_mask"`
	ClassMap         map[string]string `json:"class_map"`
	ConfidenceMask   string            `json:"confidence_mask"`
	PresentClassIDs  []int             `json:"present_class_ids"`
}

// semResponse is SemanticSegmentationInferenceResponse.
type semResponse struct {
	InferenceID   string        `json:"inference_id,omitempty"`
	Time          float64       `json:"time"`
	Image         imageDims     `json:"image"`
	Predictions   semPrediction `json:"predictions"`
	Visualization string        `json:"visualization,omitempty"`
}

// maskPNG is a mask as Roboflow sends it: an 8-bit greyscale PNG in base64.
// The bytes differ from PIL's (another deflate), the pixels do not.
func maskPNG(pix []uint8, w, h int) string {
	var buf bytes.Buffer
	img := &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		panic("png of an in-memory grey image: " + err.Error()) // cannot fail: no writer errors, valid bounds
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func encodeSemantic(w *imageWork, m tasks.SemanticMask, vis string) any {
	classMap := make(map[string]string, len(w.ir.model.Spec.ClassNames))
	for i, name := range w.ir.model.Spec.ClassNames {
		classMap[strconv.Itoa(i)] = name
	}
	present := m.Present
	if present == nil {
		present = []int{}
	}
	dims := imageDims{Width: m.Width, Height: m.Height}
	r := semResponse{
		InferenceID: w.ir.id(),
		Image:       dims,
		Predictions: semPrediction{
			SegmentationMask: maskPNG(m.ClassIDs, m.Width, m.Height),
			ClassMap:         classMap,
			ConfidenceMask:   maskPNG(m.Confidence, m.Width, m.Height),
			PresentClassIDs:  present,
		},
		Visualization: vis,
	}
	r.Time = time.Since(w.ir.start).Seconds()
	return r
}

// semanticOptions checks the fields inference-core validates and then
// ignores: confidence (a number, "best" or "default") and
// response_mask_format (base64_png, or numpy, which its wire boundary
// turns back into base64_png).
func semanticOptions(confidence gojson.RawMessage, format *string) error {
	if _, err := readConfidence(confidence, defaultConfidence, defaultConfidence); err != nil {
		return err
	}
	if format != nil && *format != "base64_png" && *format != "numpy" {
		return badRequest("response_mask_format must be base64_png or numpy, got %q", *format)
	}
	return nil
}

func (s *Server) inferSemantic(c *fiber.Ctx) error {
	start := time.Now()
	var req semRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	if err := semanticOptions(req.Confidence, req.ResponseMaskFormat); err != nil {
		return err
	}
	return s.segmentSemantic(c, start, req.ModelID, req.ID, req.visFlags, images, list)
}

// segmentSemantic is shared by /infer/semantic_segmentation and the legacy
// route. The request's preprocessing switches are not passed on (see
// semRequest).
func (s *Server) segmentSemantic(c *fiber.Ctx, start time.Time, modelID, id string, vis visFlags, images []imageSrc, list bool) error {
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, modelID, model.SemanticSegmentation)
	if err != nil {
		return err
	}
	tr, err := newTaskReq(s, m, id, start, preFlags{}, vis, tasks.SemanticSegmentation{}, struct{}{}, encodeSemantic)
	if err != nil {
		return err
	}
	return runTask(s, ctx, c, tr, images, list)
}

// legacySemantic answers the legacy route for a semantic segmentation
// model: the same JSON as /infer/semantic_segmentation.
func (s *Server) legacySemantic(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error {
	if err := semanticOptions(req.Confidence, nil); err != nil {
		return err
	}
	return s.segmentSemantic(c, start, req.ModelID, "", req.visFlags, images, false)
}
