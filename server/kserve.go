package server

import (
	"errors"
	"net/http"
	"slices"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
)

// KServe v2 / Triton HTTP routes (the Open Inference Protocol's REST API and
// Triton's extensions to it).
// Statuses: unknown model 404, known but not loaded 503, bad request 400,
// full queue 429, as for the Roboflow routes; the body is the protocol's
// {"error": "..."}.

// kserveExtensions are the protocol extensions this server implements.
var kserveExtensions = []string{"binary_tensor_data", "model_repository", "model_configuration", "statistics"}

func (s *Server) kserveRoutes() {
	a := s.app
	extensions := kserveExtensions
	if s.opts.SharedMemory != nil {
		extensions = append(slices.Clip(extensions), shmExtensions...)
	}
	a.Get("/v2", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"name": "trtserve", "version": Version, "extensions": extensions})
	})
	a.Get("/v2/models/stats", s.kserveStats) // before /v2/models/:model, which would take "stats" for a name
	for _, base := range []string{"/v2/models/:model", "/v2/models/:model/versions/:version"} {
		a.Get(base, s.kserveMetadata)
		a.Get(base+"/ready", s.kserveModelReady)
		a.Get(base+"/config", s.kserveConfig)
		a.Get(base+"/stats", s.kserveStats)
		a.Post(base+"/infer", s.kserveInfer)
	}
	a.Post("/v2/repository/index", s.repositoryIndex)
	a.Post("/v2/repository/models/:model/load", s.repositoryLoad)
	a.Post("/v2/repository/models/:model/unload", s.repositoryUnload)
	s.shmRoutes()
}

// kserveModel is the loaded model a /v2/models/{m}[/versions/{v}] path
// names: version v, or the highest loaded version.
func (s *Server) kserveModel(c *fiber.Ctx) (*pipeline.Model, error) {
	return kserve.FindModel(s.models, c.Params("model"), c.Params("version"))
}

// kserveStatus is the HTTP status of a protocol-neutral error class.
func kserveStatus(c kserve.Code) int {
	switch c {
	case kserve.InvalidArgument:
		return http.StatusBadRequest
	case kserve.NotFound:
		return http.StatusNotFound
	case kserve.Unavailable:
		return http.StatusServiceUnavailable
	case kserve.ResourceExhausted:
		return http.StatusTooManyRequests
	case kserve.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case kserve.Unimplemented:
		return http.StatusNotImplemented
	case kserve.Canceled:
		return 499
	case kserve.Unauthenticated:
		return http.StatusUnauthorized
	case kserve.TooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// kserveClassify is classify's case for *kserve.Error: the one mapping of
// kserve's codes to HTTP statuses. An error kserve.CodeOf could only call
// Internal is classified by its cause, as any other route's would be.
func kserveClassify(err error) (status int, typ, msg string, ok bool) {
	var ke *kserve.Error
	if !errors.As(err, &ke) {
		return 0, "", "", false
	}
	if ke.Code == kserve.Internal && ke.Err != nil {
		status, typ, msg = classify(ke.Err)
		return status, typ, msg, true
	}
	return kserveStatus(ke.Code), ke.Code.String(), ke.Msg, true
}

func (s *Server) kserveMetadata(c *fiber.Ctx) error {
	m, err := s.kserveModel(c)
	if err != nil {
		return err
	}
	md := kserve.Metadata(s.models, m)
	return c.JSON(fiber.Map{
		"name": md.Name, "versions": md.Versions, "platform": md.Platform,
		"inputs": md.Inputs, "outputs": md.Outputs,
	})
}

func (s *Server) kserveModelReady(c *fiber.Ctx) error {
	if _, err := s.kserveModel(c); err != nil {
		return err
	}
	return empty(c, http.StatusOK)
}

// kserveConfig is the model configuration extension: the resolved model
// in Triton's ModelConfig JSON, so perf_analyzer and dashboards read
// max_batch_size, dims and the batcher settings where they expect them.
// What Triton's schema has no field for (task, classes, preprocessing)
// goes in parameters, as string values.
func (s *Server) kserveConfig(c *fiber.Ctx) error {
	m, err := s.kserveModel(c)
	if err != nil {
		return err
	}
	cfg := kserve.Config(m)
	batching := fiber.Map{
		"max_queue_delay_microseconds": cfg.MaxQueueDelayMicros,
		"default_queue_policy":         fiber.Map{"max_queue_size": cfg.MaxQueueSize},
	}
	if len(cfg.PreferredBatchSizes) > 0 {
		batching["preferred_batch_size"] = cfg.PreferredBatchSizes
	}
	params := fiber.Map{}
	for k, v := range cfg.Parameters {
		params[k] = fiber.Map{"string_value": v}
	}
	return c.JSON(fiber.Map{
		"name": cfg.Name, "platform": cfg.Platform, "backend": cfg.Backend,
		"version_policy":   fiber.Map{"latest": fiber.Map{"num_versions": 1}},
		"max_batch_size":   cfg.MaxBatchSize,
		"input":            cfg.Inputs,
		"output":           cfg.Outputs,
		"instance_group":   []fiber.Map{{"name": cfg.Name, "kind": cfg.InstanceKind, "count": cfg.InstanceCount}},
		"dynamic_batching": batching,
		"parameters":       params,
	})
}

// kserveStats is the statistics extension for every loaded model, one
// model's loaded versions, or one version.
func (s *Server) kserveStats(c *fiber.Ctx) error {
	out, err := kserve.Statistics(s.models, c.Params("model"), c.Params("version"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"model_stats": out})
}

func (s *Server) repositoryIndex(c *fiber.Ctx) error {
	var req struct {
		Ready bool `json:"ready"`
	}
	if body := c.Body(); len(body) > 0 {
		if err := gojson.Unmarshal(body, &req); err != nil {
			return badRequest("malformed JSON: %v", err)
		}
	}
	out, err := kserve.Index(s.models, req.Ready)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// controlAllowed refuses model loads and unloads by API unless the model
// control mode is explicit, as Triton does.
func (s *Server) controlAllowed() error {
	return kserve.ControlAllowed(s.opts.ModelControl)
}

type loadRequest struct {
	Parameters map[string]gojson.RawMessage `json:"parameters"`
}

// repositoryLoad loads (or reloads) the highest version of a model. A
// "config" parameter, a JSON string holding config.yaml's keys, replaces
// config.yaml for this load; "file:" parameters (uploading weights) are
// refused: put the model in the repository.
func (s *Server) repositoryLoad(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	name := c.Params("model")
	var req loadRequest
	if body := c.Body(); len(body) > 0 {
		if err := gojson.Unmarshal(body, &req); err != nil {
			return badRequest("malformed JSON: %v", err)
		}
	}
	override, err := kserve.LoadParams(jsonParams(req.Parameters))
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	id, err := kserve.Load(ctx, s.models, name, override)
	if err != nil {
		return err
	}
	s.log.Info("model loaded", "model", id, "by", "v2/repository")
	return empty(c, http.StatusOK)
}

func (s *Server) repositoryUnload(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	name := c.Params("model")
	if err := kserve.Unload(s.models, name); err != nil {
		return err
	}
	s.log.Info("model unloaded", "model", name, "by", "v2/repository")
	return empty(c, http.StatusOK)
}

// empty answers with a status and no body, as Triton's health, ready and
// repository routes do (Fiber's SendStatus would write the status text).
func empty(c *fiber.Ctx, status int) error {
	c.Status(status)
	return nil
}

// simulatedHeader marks answers of the simulated accelerator.
func simulatedHeader(c *fiber.Ctx, m *pipeline.Model) {
	if m.Spec.Backend == model.BackendSimulated || m.Spec.Backend == model.BackendSimulatedGPU {
		c.Set(HeaderBackend, m.Spec.Backend)
	}
}
