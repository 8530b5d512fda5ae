package server

import (
	"fmt"
	"net/http"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/vision"
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

// clsReq adds what classification needs.
type clsReq struct {
	imageReq
	confidence float64
}

// clsWork is one image of a classification request.
type clsWork struct {
	imageWork
	req *clsReq
}

func (w *clsWork) Postprocess(out [][]float32) error {
	spec := w.req.model.Spec
	scores := out[0]
	if n := len(spec.ClassNames); n > 0 && n != len(scores) {
		return fmt.Errorf("classification output has %d scores, the model names %d classes", len(scores), n)
	}
	var body any
	var err error
	if spec.Multiclass {
		raw, predicted := vision.MultiLabel(scores, w.req.confidence)
		r := multiLabelResponse{
			InferenceID: w.ir.id(),
			// inference-core builds this image from (height, width) as if it
			// were (width, height): multi-label answers carry the two
			// swapped. Kept, so its clients see what they always saw.
			Image:            imageDims{Width: w.origH, Height: w.origW},
			Predictions:      make(map[string]multiLabelScore, len(raw)),
			PredictedClasses: make([]string, 0, len(predicted)),
		}
		for i, v := range raw {
			r.Predictions[spec.ClassName(i)] = multiLabelScore{v, i}
		}
		for _, i := range predicted {
			r.PredictedClasses = append(r.PredictedClasses, spec.ClassName(i))
		}
		if r.Visualization, err = w.visualize(classOverlay(spec, predicted, r.PredictedClasses)); err != nil {
			return err
		}
		r.Time = time.Since(w.req.start).Seconds()
		body = r
	} else {
		res := vision.Classify(scores, w.req.confidence)
		r := clsResponse{InferenceID: w.ir.id(), Image: w.dims(), Predictions: make([]clsPrediction, 0, len(res))}
		for _, c := range res {
			r.Predictions = append(r.Predictions, clsPrediction{spec.ClassName(c.ClassID), c.ClassID, c.Confidence})
		}
		if len(r.Predictions) > 0 {
			r.Top, r.Confidence = r.Predictions[0].Class, r.Predictions[0].Confidence
		}
		var ids []int
		var labels []string
		if len(res) > 0 {
			ids, labels = []int{res[0].ClassID}, []string{fmt.Sprintf("%s %.2f", r.Top, r.Confidence)}
		}
		if r.Visualization, err = w.visualize(classOverlay(spec, ids, labels)); err != nil {
			return err
		}
		r.Time = time.Since(w.req.start).Seconds()
		body = r
	}
	w.body, err = gojson.Marshal(body)
	return err
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
func (s *Server) classify(c *fiber.Ctx, start time.Time, req *clsRequest, conf float64, images [][]byte, list bool) error {
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, model.Classification)
	if err != nil {
		return err
	}
	if shape := m.Engine.Outputs()[0].Shape; len(shape) != 2 {
		return &apiError{Status: http.StatusInternalServerError, Type: "ModelError", Msg: fmt.Sprintf("classification model %s has output shape %v, want [batch, classes]", m.Spec.ID(), shape)}
	}
	vis, err := req.visFlags.options()
	if err != nil {
		return err
	}
	shared := &clsReq{imageReq: s.newImageReq(m, req.ID, start, req.preFlags, vis), confidence: conf}
	return s.run(ctx, c, m, &shared.imageReq, images, list, func(iw imageWork) (pipeline.Work, *imageWork) {
		w := &clsWork{imageWork: iw, req: shared}
		return w, &w.imageWork
	})
}
