package server

import (
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/tasks"
)

// clsRequest is ClassificationInferenceRequest.
type clsRequest struct {
	ID         string            `json:"id"`
	ModelID    string            `json:"model_id"`
	APIKey     *string           `json:"api_key"`
	Image      gojson.RawMessage `json:"image"`
	Confidence gojson.RawMessage `json:"confidence"`
	preFlags
	visFlags
}

type clsPrediction struct {
	Class      string  `json:"class"`
	ClassID    int     `json:"class_id"`
	Confidence float64 `json:"confidence"`
}

// clsResponse is ClassificationInferenceResponse (single label).
type clsResponse struct {
	InferenceID   string          `json:"inference_id,omitempty"`
	Time          float64         `json:"time"`
	Image         imageDims       `json:"image"`
	Predictions   []clsPrediction `json:"predictions"`
	Top           string          `json:"top"`
	Confidence    float64         `json:"confidence"`
	Visualization string          `json:"visualization,omitempty"`
}

type multiLabelScore struct {
	Confidence float64 `json:"confidence"`
	ClassID    int     `json:"class_id"`
}

// multiLabelResponse is MultiLabelClassificationInferenceResponse.
type multiLabelResponse struct {
	InferenceID      string                     `json:"inference_id,omitempty"`
	Time             float64                    `json:"time"`
	Image            imageDims                  `json:"image"`
	Predictions      map[string]multiLabelScore `json:"predictions"`
	PredictedClasses []string                   `json:"predicted_classes"`
	Visualization    string                     `json:"visualization,omitempty"`
}

// Defaults of inference-core's classification path: the request's 0.4, and
// 0.5 (make_response's default) when confidence is "best" or "default",
// since those strings are dropped before postprocessing.
const (
	defaultClsConfidence = 0.4
	namedClsConfidence   = 0.5
)

// parseClsConfidence reads a classification confidence. Numbers >= 1 are
// percentages (as on every trtserve route); unlike detection there is no
// 0.01 floor on the JSON route (softmax scores of 1000-class models sit
// near 0.001, and Roboflow applies no floor there), only on the legacy
// route, where Roboflow floors every task.
func parseClsConfidence(raw gojson.RawMessage, legacy bool) (float64, error) {
	v, err := readConfidence(raw, defaultClsConfidence, namedClsConfidence)
	if legacy {
		v = max(v, minConfidence)
	}
	return v, err
}

func encodeClasses(w *imageWork, c tasks.Classes, vis string) any {
	if c.Multilabel {
		r := multiLabelResponse{
			InferenceID: w.ir.id(),
			// inference-core builds this image from (height, width) as if it
			// were (width, height): multi-label answers carry the two
			// swapped. Kept, so its clients see what they always saw.
			Image:            imageDims{Width: w.frame.Height, Height: w.frame.Width},
			Predictions:      make(map[string]multiLabelScore, len(c.Scores)),
			PredictedClasses: make([]string, len(c.Predicted)),
			Visualization:    vis,
		}
		for _, s := range c.Scores {
			r.Predictions[s.Class] = multiLabelScore{s.Confidence, s.ClassID}
		}
		for i, p := range c.Predicted {
			r.PredictedClasses[i] = p.Class
		}
		r.Time = time.Since(w.ir.start).Seconds()
		return r
	}
	r := clsResponse{InferenceID: w.ir.id(), Image: w.dims(), Predictions: make([]clsPrediction, len(c.Predictions)), Visualization: vis}
	for i, p := range c.Predictions {
		r.Predictions[i] = clsPrediction{p.Class, p.ClassID, p.Confidence}
	}
	if len(r.Predictions) > 0 {
		r.Top, r.Confidence = r.Predictions[0].Class, r.Predictions[0].Confidence
	}
	r.Time = time.Since(w.ir.start).Seconds()
	return r
}

func (s *Server) inferClassification(c *fiber.Ctx) error {
	start := time.Now()
	var req clsRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	conf, err := parseClsConfidence(req.Confidence, false)
	if err != nil {
		return err
	}
	return s.classify(c, start, &req, conf, images, list)
}

// classify is shared by /infer/classification and the legacy route.
func (s *Server) classify(c *fiber.Ctx, start time.Time, req *clsRequest, conf float64, images []imageSrc, list bool) error {
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.Classification)
	if err != nil {
		return err
	}
	tr, err := newTaskReq(s, m, req.ID, start, req.preFlags, req.visFlags, tasks.Classification{}, conf, encodeClasses)
	if err != nil {
		return err
	}
	return runTask(s, ctx, c, tr, images, list)
}

// legacyClassify floors the confidence as Roboflow's legacy route does.
func (s *Server) legacyClassify(c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error {
	conf, err := parseClsConfidence(req.Confidence, true)
	if err != nil {
		return err
	}
	cls := clsRequest{ModelID: req.ModelID, preFlags: req.preFlags, visFlags: req.visFlags}
	return s.classify(c, start, &cls, conf, images, false)
}
