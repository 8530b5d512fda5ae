package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/vision"
)

// Roboflow Inference's server-side defaults (inference/core/env.py).
const (
	defaultConfidence    = 0.4
	defaultIoU           = 0.3
	defaultMaxDetections = 300
	defaultMaxCandidates = 3000
	// Roboflow floors confidence here so a zero threshold cannot make NMS
	// run over every anchor.
	minConfidence = 0.01
)

// odRequest is ObjectDetectionInferenceRequest. Pointers tell "absent or
// null" (use the default) from a value. Unknown fields are ignored, as
// pydantic does.
type odRequest struct {
	ID               string            `json:"id"`
	ModelID          string            `json:"model_id"`
	APIKey           *string           `json:"api_key"`
	Image            gojson.RawMessage `json:"image"`
	ClassAgnosticNMS *bool             `json:"class_agnostic_nms"`
	ClassFilter      []string          `json:"class_filter"`
	Confidence       gojson.RawMessage `json:"confidence"`
	IoUThreshold     *float64          `json:"iou_threshold"`
	MaxDetections    *int              `json:"max_detections"`
	MaxCandidates    *int              `json:"max_candidates"`
	preFlags
	visFlags
}

type imageDims struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

type odPrediction struct {
	X           float64 `json:"x"`
	Y           float64 `json:"y"`
	Width       float64 `json:"width"`
	Height      float64 `json:"height"`
	Confidence  float64 `json:"confidence"`
	Class       string  `json:"class"`
	ClassID     int     `json:"class_id"`
	DetectionID string  `json:"detection_id"`
}

type odResponse struct {
	InferenceID   string         `json:"inference_id,omitempty"`
	Time          float64        `json:"time"`
	Image         imageDims      `json:"image"`
	Predictions   []odPrediction `json:"predictions"`
	Visualization string         `json:"visualization,omitempty"`
}

// readConfidence reads Roboflow's confidence: a number (>= 1 means
// percent), or "default"/"best" (named; no per-model optimum is known, so
// both mean the route's default). absent is used when the field is missing
// or null.
func readConfidence(raw gojson.RawMessage, absent, named float64) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return absent, nil
	}
	var v float64
	if raw[0] == '"' {
		var s string
		if err := gojson.Unmarshal(raw, &s); err != nil {
			return 0, badRequest("confidence must be a number, \"best\" or \"default\"")
		}
		switch s {
		case "default", "best":
			return named, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, badRequest("confidence must be a number, \"best\" or \"default\", got %q", s)
		}
		v = f
	} else if err := gojson.Unmarshal(raw, &v); err != nil {
		return 0, badRequest("confidence must be a number, \"best\" or \"default\"")
	}
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, badRequest("confidence must be between 0 and 1 (or 1..100 as a percentage), got %v", v)
	}
	if v >= 1 {
		v /= 100
	}
	return v, nil
}

// parseConfidence is detection's confidence, floored at 0.01.
func parseConfidence(raw gojson.RawMessage) (float64, error) {
	v, err := readConfidence(raw, defaultConfidence, defaultConfidence)
	return max(v, minConfidence), err
}

func (r *odRequest) nmsOptions() (vision.NMSOptions, error) {
	conf, err := parseConfidence(r.Confidence)
	if err != nil {
		return vision.NMSOptions{}, err
	}
	o := vision.NMSOptions{Confidence: conf, IoUThreshold: defaultIoU, MaxDetections: defaultMaxDetections, MaxCandidates: defaultMaxCandidates}
	if r.IoUThreshold != nil {
		if v := *r.IoUThreshold; math.IsNaN(v) || v < 0 || v > 1 {
			return o, badRequest("iou_threshold must be between 0 and 1, got %v", v)
		}
		o.IoUThreshold = *r.IoUThreshold
	}
	if r.MaxDetections != nil {
		if *r.MaxDetections < 0 {
			return o, badRequest("max_detections must not be negative")
		}
		o.MaxDetections = *r.MaxDetections
	}
	if r.MaxCandidates != nil {
		if *r.MaxCandidates < 1 {
			return o, badRequest("max_candidates must be positive")
		}
		o.MaxCandidates = *r.MaxCandidates
	}
	if r.ClassAgnosticNMS != nil {
		o.ClassAgnostic = *r.ClassAgnosticNMS
	}
	return o, nil
}

// model finds a loaded model, loading it from the repository on first use
// when AutoLoad is on.
func (s *Server) model(ctx context.Context, id string) (*pipeline.Model, error) {
	if strings.TrimSpace(id) == "" {
		return nil, badRequest("field model_id is required")
	}
	if m, ok := s.models.Get(id); ok {
		return m, nil
	}
	if !s.opts.AutoLoad {
		return nil, &apiError{Status: http.StatusNotFound, Type: "ModelNotFound", Msg: "model " + clip(id) + " is not loaded (POST /model/add)"}
	}
	return s.models.Load(ctx, id)
}

func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.RequestTimeout)
}

// inferContext is a request's context for the pipeline: it ends at the
// request timeout or when the client closes its connection.
func (s *Server) inferContext(c *fiber.Ctx) (context.Context, func()) {
	ctx, cancelTimeout := s.requestContext()
	ctx, cancel := context.WithCancelCause(ctx)
	stop := s.watcher.add(c.Context().Conn(), cancel)
	return ctx, func() {
		stop()
		cancel(nil)
		cancelTimeout()
	}
}

func (s *Server) inferObjectDetection(c *fiber.Ctx) error {
	start := time.Now()
	var req odRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	return s.detect(c, start, &req, images, list)
}

// parseJSONRequest decodes a /infer/... body into req and loads the images
// its image field names. The JSON copy of the base64 text is as big as the
// image: it is dropped before the request waits in the queue (1000 waiting
// 1080p requests hold 400 MB less).
func (s *Server) parseJSONRequest(c *fiber.Ctx, req any, image *gojson.RawMessage) ([][]byte, bool, error) {
	if len(c.Body()) == 0 {
		return nil, false, badRequest("request body is empty")
	}
	if err := gojson.Unmarshal(c.Body(), req); err != nil {
		return nil, false, badRequest("malformed JSON: %v", err)
	}
	refs, list, err := parseImages(*image)
	if err != nil {
		return nil, false, err
	}
	images := make([][]byte, len(refs))
	for i, ref := range refs {
		if images[i], err = s.loadImage(context.Background(), ref); err != nil {
			return nil, false, err
		}
	}
	*image = nil
	return images, list, nil
}

// newDetectReq is what the images of a detection-shaped request share.
func (s *Server) newDetectReq(m *pipeline.Model, req *odRequest, start time.Time, nms vision.NMSOptions) (*detectReq, error) {
	vis, err := req.visFlags.options()
	if err != nil {
		return nil, err
	}
	filter := map[string]bool{}
	for _, f := range req.ClassFilter {
		filter[f] = true
	}
	return &detectReq{imageReq: s.newImageReq(m, req.ID, start, req.preFlags, vis), nms: nms, filter: filter}, nil
}

// taskModel finds (or loads) the model a request names and checks it does
// the route's task.
func (s *Server) taskModel(ctx context.Context, id string, task model.Task) (*pipeline.Model, error) {
	m, err := s.model(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Spec.Task != task {
		return nil, badRequest("model %s is a %s model; use its own /infer route", m.Spec.ID(), m.Spec.Task)
	}
	return m, nil
}

// run makes one task Work per image with newWork (which wraps the shared
// imageWork part), sends them through the model and answers with their
// bodies.
func (s *Server) run(ctx context.Context, c *fiber.Ctx, m *pipeline.Model, ir *imageReq, images [][]byte, list bool,
	newWork func(imageWork) (pipeline.Work, *imageWork)) error {
	works := make([]pipeline.Work, len(images))
	ws := make([]*imageWork, len(images))
	for i, data := range images {
		works[i], ws[i] = newWork(imageWork{ir: ir, data: data})
	}
	for _, err := range m.Do(ctx, works) {
		if err != nil {
			return err
		}
	}
	if v := ws[0].ir.vis; v != nil && v.image {
		c.Set(fiber.HeaderContentType, "image/jpeg")
		return c.Send(ws[0].jpeg)
	}
	bodies := make([][]byte, len(ws))
	for i, w := range ws {
		bodies[i] = w.body
	}
	return s.sendJSON(c, m, bodies, list)
}

// detect is shared by /infer/object_detection and the legacy route.
func (s *Server) detect(c *fiber.Ctx, start time.Time, req *odRequest, images [][]byte, list bool) error {
	return s.detectTask(c, start, req, images, list, model.ObjectDetection, 0)
}

// detectTask runs detection-shaped tasks: object detection, and keypoints
// (boxes plus keypoints at or above kpConf).
func (s *Server) detectTask(c *fiber.Ctx, start time.Time, req *odRequest, images [][]byte, list bool, task model.Task, kpConf float64) error {
	nms, err := req.nmsOptions()
	if err != nil {
		return err
	}
	ctx, cancel := s.inferContext(c)
	defer cancel()
	m, err := s.taskModel(ctx, req.ModelID, task)
	if err != nil {
		return err
	}
	shared, err := s.newDetectReq(m, req, start, nms)
	if err != nil {
		return err
	}
	shared.keypoints, shared.kpConfidence = task == model.KeypointDetection, kpConf
	return s.run(ctx, c, m, &shared.imageReq, images, list, func(iw imageWork) (pipeline.Work, *imageWork) {
		w := &detectWork{imageWork: iw, req: shared}
		return w, &w.imageWork
	})
}

// legacyInfer is POST /{dataset}/{version}: the image comes as a base64
// body, a multipart "file" part, or ?image=<url>; options come as query
// parameters (overlap is iou_threshold, both accept percentages).
func (s *Server) legacyInfer(c *fiber.Ctx) error {
	start := time.Now()
	req := odRequest{ModelID: c.Params("dataset") + "/" + c.Params("version")}
	if v := c.Query("confidence"); v != "" {
		req.Confidence = gojson.RawMessage(strconv.Quote(v))
	}
	if v := c.Query("overlap"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100 {
			return badRequest("overlap must be a number between 0 and 1 (or 1..100 as a percentage)")
		}
		if f >= 1 {
			f /= 100
		}
		req.IoUThreshold = &f
	}
	if v := c.Query("max_detections"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest("max_detections must be an integer")
		}
		req.MaxDetections = &n
	}
	if v := c.Query("class_agnostic_nms"); v != "" {
		b := v == "true" || v == "True" || v == "1"
		req.ClassAgnosticNMS = &b
	}
	for name, dst := range map[string]**bool{
		"disable_preproc_auto_orient": &req.DisableAutoOrient, "disable_preproc_static_crop": &req.DisableStaticCrop,
		"disable_preproc_grayscale": &req.DisableGrayscale, "disable_preproc_contrast": &req.DisableContrast,
	} {
		if v := c.Query(name); v != "" {
			b := v == "true" || v == "True" || v == "1"
			*dst = &b
		}
	}
	switch f := c.Query("format", "json"); f {
	case "json":
	case "image", "image_and_json":
		t := true
		req.Visualize, req.imageFormat = &t, f == "image"
		if v := c.Query("labels"); v != "" {
			b := v == "true" || v == "True" || v == "1"
			req.VisLabels = &b
		}
		if v := c.Query("stroke"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return badRequest("stroke must be an integer")
			}
			req.VisStroke = &n
		}
	default:
		return badRequest("format must be json, image or image_and_json, got %q", f)
	}
	if typ := c.Query("image_type", "base64"); typ != "base64" {
		return badRequest("image_type %q is not accepted: send base64 JPEG or PNG", typ)
	}
	var data []byte
	var err error
	switch {
	case c.Query("image") != "":
		data, err = s.fetchURL(context.Background(), c.Query("image"))
	case strings.HasPrefix(string(c.Request().Header.ContentType()), "multipart/form-data"):
		fh, err := c.FormFile("file")
		if err != nil {
			return badRequest("multipart request without a part named file")
		}
		f, err := fh.Open()
		if err != nil {
			return badRequest("multipart file could not be read")
		}
		data, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			return badRequest("multipart file could not be read")
		}
	default:
		if len(c.Body()) == 0 {
			return badRequest("request body is empty: send a base64 image, a multipart file, or ?image=<url>")
		}
		data, err = decodeBase64(c.Body())
	}
	if err != nil {
		return err
	}
	// The route serves every task: the model decides which answer it gets.
	ctx, cancel := s.requestContext()
	m, err := s.model(ctx, req.ModelID)
	cancel()
	if err != nil {
		return err
	}
	if m.Spec.Task == model.InstanceSegmentation {
		mode, tradeoff, rle, err := legacySegOptions(c)
		if err != nil {
			return err
		}
		return s.segment(c, start, &req, mode, tradeoff, rle, [][]byte{data}, false)
	}
	if m.Spec.Task == model.KeypointDetection {
		kpConf := 0.0
		if v := c.Query("keypoint_confidence"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return badRequest("keypoint_confidence must be a number")
			}
			if kpConf, err = keypointConfidence(&f); err != nil {
				return err
			}
		}
		return s.detectTask(c, start, &req, [][]byte{data}, false, model.KeypointDetection, kpConf)
	}
	if m.Spec.Task == model.Classification {
		conf, err := parseClsConfidence(req.Confidence, true)
		if err != nil {
			return err
		}
		cls := clsRequest{ModelID: req.ModelID, preFlags: req.preFlags, visFlags: req.visFlags}
		return s.classify(c, start, &cls, conf, [][]byte{data}, false)
	}
	return s.detect(c, start, &req, [][]byte{data}, false)
}

type registryEntry struct {
	ModelID     string `json:"model_id"`
	TaskType    string `json:"task_type"`
	BatchSize   int    `json:"batch_size"`
	InputHeight int    `json:"input_height"`
	InputWidth  int    `json:"input_width"`
	// Backend and FallbackReason are trtserve's: where the model runs and,
	// when that is not the backend it asked for, why.
	Backend        string `json:"backend"`
	FallbackReason string `json:"fallback_reason,omitempty"`
}

func (s *Server) registryBody() fiber.Map {
	models := s.models.Loaded()
	out := make([]registryEntry, 0, len(models))
	for _, m := range models {
		out = append(out, registryEntry{m.Spec.ID(), string(m.Spec.Task), m.Engine.MaxBatch(), m.Spec.InputHeight, m.Spec.InputWidth, m.Spec.Backend, m.Spec.FallbackReason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModelID < out[j].ModelID })
	return fiber.Map{"models": out}
}

func (s *Server) registry(c *fiber.Ctx) error { return c.JSON(s.registryBody()) }

type modelRequest struct {
	ModelID string `json:"model_id"`
}

func parseModelRequest(c *fiber.Ctx) (string, error) {
	var r modelRequest
	if err := gojson.Unmarshal(c.Body(), &r); err != nil {
		return "", badRequest("malformed JSON: %v", err)
	}
	if strings.TrimSpace(r.ModelID) == "" {
		return "", badRequest("field model_id is required")
	}
	return r.ModelID, nil
}

func (s *Server) addModel(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	id, err := parseModelRequest(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	if _, err := s.models.Load(ctx, id); err != nil {
		return err
	}
	return c.JSON(s.registryBody())
}

func (s *Server) removeModel(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	id, err := parseModelRequest(c)
	if err != nil {
		return err
	}
	if err := s.models.Unload(id); err != nil {
		if errors.Is(err, pipeline.ErrNotLoaded) {
			return &apiError{Status: http.StatusNotFound, Type: "ModelNotFound", Msg: err.Error()}
		}
		return err
	}
	return c.JSON(s.registryBody())
}

func (s *Server) clearModels(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	if err := s.models.UnloadAll(); err != nil {
		return err
	}
	return c.JSON(s.registryBody())
}
