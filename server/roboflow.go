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

	"github.com/trtserve/trtserve/config"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
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

type imageDims struct {
	Width  int `json:"width"`
	Height int `json:"height"`
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

// parseJSONRequest decodes a /infer/... body into req and reads the images
// its image field names, each into a buffer of its own, base64 decoded
// from where it lies in the body (images.go, imageField); then the body is
// released (releaseBody): a waiting request holds its encoded images and
// nothing else. A request naming more images than --max-images-per-request,
// or whose images alone exceed --max-inflight-bytes, is refused with 413
// before any image is read.
func (s *Server) parseJSONRequest(c *fiber.Ctx, req any, image *gojson.RawMessage) ([]imageSrc, bool, error) {
	body := c.Body()
	if len(body) == 0 {
		return nil, false, badRequest("request body is empty")
	}
	var refs []imageRef
	var list, inPlace bool
	if start, end, ok := imageField(body); ok {
		if refs, list, inPlace = imageRefsInPlace(body[start:end]); inPlace {
			// The rest of the body, the image value replaced by null, is
			// a few hundred bytes: the decoder reads and checks that.
			rest := make([]byte, 0, len(body)-(end-start)+4)
			rest = append(append(append(rest, body[:start]...), "null"...), body[end:]...)
			inPlace = gojson.Unmarshal(rest, req) == nil
		}
	}
	if !inPlace {
		// The general path: any shape, and every error worded.
		if err := gojson.Unmarshal(body, req); err != nil {
			return nil, false, badRequest("malformed JSON: %v", err)
		}
		var err error
		if refs, list, err = parseImages(*image); err != nil {
			return nil, false, err
		}
	}
	*image = nil
	if limit := s.maxImagesPerRequest(); len(refs) > limit {
		return nil, false, &pipeline.TooLargeError{What: "images", Got: int64(len(refs)), Limit: int64(limit), Bound: "--max-images-per-request"}
	}
	var size int64
	for _, ref := range refs {
		if text, ok := rawJSONString(ref.Value); ok && (ref.Type == "base64" || ref.Type == "") {
			size += int64(decodedSize(text))
		}
	}
	if err := s.neverFits(size); err != nil {
		return nil, false, err
	}
	images := make([]imageSrc, len(refs))
	for i, ref := range refs {
		var err error
		if images[i], err = s.loadImage(context.Background(), ref); err != nil {
			return nil, false, err
		}
	}
	releaseBody(c)
	return images, list, nil
}

// neverFits is the 413 of a request whose images alone are more bytes than
// --max-inflight-bytes: it could never be admitted, so they are not read.
func (s *Server) neverFits(size int64) error {
	if limit := s.opts.InflightBytes.Limit(); limit > 0 && size > limit {
		return &pipeline.TooLargeError{What: "bytes", Got: size, Limit: limit, Bound: "--max-inflight-bytes"}
	}
	return nil
}

// releaseBody lets go of the request body once the request's images are
// read out of it into buffers of their own, so a request waiting in a
// queue does not hold it (nothing keeps a slice of it: the JSON decoder
// copied what it kept). The buffer is dropped, not handed back to
// fasthttp's pool: a pool holds every body of a burst of 1000 requests
// until two collections have passed, and the collector counts them as
// live, which doubled the heap it let grow.
func releaseBody(c *fiber.Ctx) {
	c.Request().SwapBody(nil)
}

func (s *Server) maxImagesPerRequest() int {
	if s.opts.MaxImagesPerRequest > 0 {
		return s.opts.MaxImagesPerRequest
	}
	return config.DefaultMaxImagesPerRequest
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

// legacyHandler answers the legacy route for one task: req holds the query
// parameters every task shares; the handler reads its own from c.
type legacyHandler func(s *Server, c *fiber.Ctx, start time.Time, req *odRequest, images []imageSrc) error

// legacyTasks is the legacy route's answer per task; a model of a task
// missing here gets detection's, which refuses it by task.
var legacyTasks = map[model.Task]legacyHandler{
	model.ObjectDetection:      (*Server).legacyDetect,
	model.InstanceSegmentation: (*Server).legacySegment,
	model.KeypointDetection:    (*Server).legacyKeypoints,
	model.Classification:       (*Server).legacyClassify,
	model.SemanticSegmentation: (*Server).legacySemantic,
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
		return badRequest("image_type %q is not accepted: send a base64-encoded image", typ)
	}
	var src imageSrc
	var err error
	switch {
	case c.Query("image") != "":
		src.data, err = s.fetchURL(context.Background(), c.Query("image"))
	case strings.HasPrefix(string(c.Request().Header.ContentType()), "multipart/form-data"):
		fh, err := c.FormFile("file")
		if err != nil {
			return badRequest("multipart request without a part named file")
		}
		f, err := fh.Open()
		if err != nil {
			return badRequest("multipart file could not be read")
		}
		src.data, err = io.ReadAll(f)
		f.Close()
		if err != nil {
			return badRequest("multipart file could not be read")
		}
	default:
		if len(c.Body()) == 0 {
			return badRequest("request body is empty: send a base64 image, a multipart file, or ?image=<url>")
		}
		var text []byte
		if text, err = base64Text(c.Body()); err == nil {
			if err = s.neverFits(int64(decodedSize(text))); err == nil {
				src.data, err = decodeBase64To(make([]byte, 0, decodedSize(text)), text)
			}
		}
	}
	if err != nil {
		return err
	}
	releaseBody(c)
	// The route serves every task: the model decides which answer it gets.
	ctx, cancel := s.requestContext()
	m, err := s.model(ctx, req.ModelID)
	cancel()
	if err != nil {
		return err
	}
	answer, ok := legacyTasks[m.Spec.Task]
	if !ok {
		answer = (*Server).legacyDetect
	}
	return answer(s, c, start, &req, []imageSrc{src})
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
