package server

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
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
	a.Get("/v2", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"name": "trtserve", "version": Version, "extensions": kserveExtensions})
	})
	a.Get("/v2/health/live", func(c *fiber.Ctx) error { return empty(c, http.StatusOK) })
	a.Get("/v2/health/ready", func(c *fiber.Ctx) error {
		if !s.isReady() {
			return empty(c, http.StatusServiceUnavailable)
		}
		return empty(c, http.StatusOK)
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
}

// kserveModel is the loaded model a /v2/models/{m}[/versions/{v}] path
// names: version v, or the highest loaded version.
func (s *Server) kserveModel(c *fiber.Ctx) (*pipeline.Model, error) {
	name, version := c.Params("model"), c.Params("version")
	var m *pipeline.Model
	var ok bool
	if version == "" {
		m, ok = s.models.Latest(name)
	} else {
		m, ok = s.models.Get(name + "/" + version)
	}
	if ok {
		return m, nil
	}
	id := name
	if version != "" {
		id += "/" + version
	}
	e, err := s.models.Repo.Find(id)
	if err != nil {
		return nil, &apiError{Status: http.StatusNotFound, Type: "ModelNotFound", Msg: "unknown model: '" + clip(id) + "' is not in the model repository"}
	}
	st := s.models.Status(e.ID())
	msg := "model '" + e.ID() + "' is not ready: " + string(st.State)
	if st.Reason != "" {
		msg += " (" + st.Reason + ")"
	}
	return nil, &apiError{Status: http.StatusServiceUnavailable, Type: "ModelNotReady", Msg: msg}
}

// kservePlatform names a backend as Triton's model metadata does.
func kservePlatform(backend string) string {
	switch backend {
	case "onnxruntime":
		return "onnxruntime_onnx"
	case "tensorrt":
		return "tensorrt_plan"
	}
	return backend
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// tensorsMetadata is engine tensors as KServe metadata shows them: a
// batching model's first dimension is -1.
func tensorsMetadata(ts []model.TensorInfo) []tensorMetadata {
	out := make([]tensorMetadata, len(ts))
	for i, t := range ts {
		shape := slices.Clone(t.Shape)
		shape[0] = -1
		out[i] = tensorMetadata{t.Name, string(t.DataType), shape}
	}
	return out
}

func (s *Server) kserveMetadata(c *fiber.Ctx) error {
	m, err := s.kserveModel(c)
	if err != nil {
		return err
	}
	var versions []string
	for _, l := range s.models.Loaded() {
		if l.Spec.Name == m.Spec.Name {
			versions = append(versions, l.Spec.Version)
		}
	}
	slices.SortFunc(versions, func(a, b string) int {
		if repository.VersionLess(a, b) {
			return -1
		}
		return 1
	})
	return c.JSON(fiber.Map{
		"name": m.Spec.Name, "versions": versions, "platform": kservePlatform(m.Spec.Backend),
		"inputs": tensorsMetadata(m.Engine.Inputs()), "outputs": tensorsMetadata(m.Engine.Outputs()),
	})
}

func (s *Server) kserveModelReady(c *fiber.Ctx) error {
	if _, err := s.kserveModel(c); err != nil {
		return err
	}
	return empty(c, http.StatusOK)
}

// configTensor is a ModelInput / ModelOutput of Triton's model config:
// dims without the batch dimension.
type configTensor struct {
	Name     string  `json:"name"`
	DataType string  `json:"data_type"`
	Format   string  `json:"format,omitempty"`
	Dims     []int64 `json:"dims"`
}

func configTensors(ts []model.TensorInfo, format string) []configTensor {
	out := make([]configTensor, len(ts))
	for i, t := range ts {
		out[i] = configTensor{t.Name, "TYPE_" + string(t.DataType), format, slices.Clone(t.Shape[1:])}
	}
	return out
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
	spec, opts := m.Spec, m.Options()
	kind := "KIND_CPU"
	if spec.Backend != "onnxruntime" {
		kind = "KIND_GPU"
	}
	batching := fiber.Map{
		"max_queue_delay_microseconds": opts.MaxQueueDelay.Microseconds(),
		"default_queue_policy":         fiber.Map{"max_queue_size": opts.MaxQueueSize},
	}
	if len(opts.PreferredBatchSizes) > 0 {
		batching["preferred_batch_size"] = opts.PreferredBatchSizes
	}
	classes, _ := gojson.Marshal(spec.ClassNames)
	param := func(v string) fiber.Map { return fiber.Map{"string_value": v} }
	return c.JSON(fiber.Map{
		"name": spec.Name, "platform": kservePlatform(spec.Backend), "backend": spec.Backend,
		"version_policy":   fiber.Map{"latest": fiber.Map{"num_versions": 1}},
		"max_batch_size":   m.MaxBatch(),
		"input":            configTensors(m.Engine.Inputs(), "FORMAT_NCHW"),
		"output":           configTensors(m.Engine.Outputs(), ""),
		"instance_group":   []fiber.Map{{"name": spec.Name, "kind": kind, "count": spec.InstanceCount}},
		"dynamic_batching": batching,
		"parameters": fiber.Map{
			"task": param(string(spec.Task)), "class_names": param(string(classes)),
			"pipeline": param(string(opts.Mode)), "resize": param(string(spec.Pre.Resize)),
		},
	})
}

// kserveStats is the statistics extension for every loaded model, one
// model's loaded versions, or one version.
func (s *Server) kserveStats(c *fiber.Ctx) error {
	var models []*pipeline.Model
	name, version := c.Params("model"), c.Params("version")
	switch {
	case version != "":
		m, err := s.kserveModel(c)
		if err != nil {
			return err
		}
		models = []*pipeline.Model{m}
	case name != "":
		for _, m := range s.models.Loaded() {
			if m.Spec.Name == name {
				models = append(models, m)
			}
		}
		if len(models) == 0 {
			if _, err := s.kserveModel(c); err != nil {
				return err
			}
		}
	default:
		models = s.models.Loaded()
	}
	out := make([]modelStats, len(models))
	for i, m := range models {
		out[i] = newModelStats(m)
	}
	return c.JSON(fiber.Map{"model_stats": out})
}

type durationStat struct {
	Count uint64 `json:"count"`
	Ns    uint64 `json:"ns"`
}

type batchStat struct {
	BatchSize     int          `json:"batch_size"`
	ComputeInput  durationStat `json:"compute_input"`
	ComputeInfer  durationStat `json:"compute_infer"`
	ComputeOutput durationStat `json:"compute_output"`
}

type modelStats struct {
	Name           string `json:"name"`
	Version        string `json:"version"`
	LastInference  int64  `json:"last_inference"`
	InferenceCount uint64 `json:"inference_count"`
	ExecutionCount uint64 `json:"execution_count"`
	InferenceStats struct {
		Success       durationStat `json:"success"`
		Fail          durationStat `json:"fail"`
		Queue         durationStat `json:"queue"`
		ComputeInput  durationStat `json:"compute_input"`
		ComputeInfer  durationStat `json:"compute_infer"`
		ComputeOutput durationStat `json:"compute_output"`
		CacheHit      durationStat `json:"cache_hit"`
		CacheMiss     durationStat `json:"cache_miss"`
	} `json:"inference_stats"`
	BatchStats []batchStat `json:"batch_stats"`
}

// newModelStats reads a model's counters in Triton's terms: durations of
// successful requests, each request counted once in every stage.
func newModelStats(m *pipeline.Model) modelStats {
	st := m.Stats
	out := modelStats{
		Name: m.Spec.Name, Version: m.Spec.Version, LastInference: st.LastInference.Load(),
		InferenceCount: st.InferenceCount.Load(), ExecutionCount: st.ExecutionCount.Load(),
		BatchStats: []batchStat{},
	}
	ok := st.RequestSuccess.Load()
	is := &out.InferenceStats
	is.Success = durationStat{ok, st.RequestNs.Load()}
	var failed uint64
	for _, n := range st.Failures() {
		failed += n
	}
	is.Fail = durationStat{failed, st.FailNs.Load()}
	is.Queue = durationStat{ok, st.QueueNs.Load()}
	is.ComputeInput = durationStat{ok, st.ComputeInputNs.Load()}
	is.ComputeInfer = durationStat{ok, st.ComputeInferNs.Load()}
	is.ComputeOutput = durationStat{ok, st.ComputeOutputNs.Load()}
	for b := 1; b < len(st.Batches); b++ {
		n := st.Batches[b].Load()
		if n == 0 {
			continue
		}
		out.BatchStats = append(out.BatchStats, batchStat{
			BatchSize:     b,
			ComputeInput:  durationStat{n, st.BatchInputNs[b].Load()},
			ComputeInfer:  durationStat{n, st.BatchInferNs[b].Load()},
			ComputeOutput: durationStat{n, st.BatchOutputNs[b].Load()},
		})
	}
	return out
}

// indexEntry is one row of /v2/repository/index.
type indexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
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
	statuses, err := s.models.Index()
	if err != nil {
		return err
	}
	out := []indexEntry{}
	for _, st := range statuses {
		if !req.Ready || st.State == pipeline.StateReady {
			out = append(out, indexEntry{st.Name, st.Version, string(st.State), st.Reason})
		}
	}
	return c.JSON(out)
}

// controlAllowed refuses model loads and unloads by API unless the model
// control mode is explicit, as Triton does.
func (s *Server) controlAllowed() error {
	switch s.opts.ModelControl {
	case ControlExplicit, "":
		return nil
	case ControlPoll:
		return badRequest("explicit model load / unload is not allowed: the model control mode is poll (the repository poller loads and unloads)")
	}
	return badRequest("explicit model load / unload is not allowed: the model control mode is none")
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
	var override []byte
	for k, v := range req.Parameters {
		switch {
		case k == "config":
			var cfg string
			if err := gojson.Unmarshal(v, &cfg); err != nil {
				return badRequest("parameter config must be a string holding the model configuration as JSON")
			}
			override = []byte(cfg)
		case strings.HasPrefix(k, "file:"):
			return &apiError{Status: http.StatusNotImplemented, Type: "Unsupported", Msg: "load parameter " + clip(k) + ": uploading model files is not supported; put them in the model repository"}
		}
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	e, err := s.models.Repo.Find(name)
	if err != nil {
		return &apiError{Status: http.StatusNotFound, Type: "ModelNotFound", Msg: "failed to load '" + clip(name) + "': not in the model repository"}
	}
	if _, err := s.models.Reload(ctx, e.ID(), override); err != nil {
		if errors.Is(err, model.ErrBadModel) || errors.Is(err, engines.ErrBackendMissing) || errors.Is(err, engines.ErrUnknownBackend) || errors.Is(err, engines.ErrBadShape) {
			return badRequest("load failed for model '%s': %v", name, err)
		}
		return err
	}
	s.log.Info("model loaded", "model", e.ID(), "by", "v2/repository")
	return empty(c, http.StatusOK)
}

func (s *Server) repositoryUnload(c *fiber.Ctx) error {
	if err := s.controlAllowed(); err != nil {
		return err
	}
	name := c.Params("model")
	err := s.models.UnloadName(name)
	if errors.Is(err, pipeline.ErrNotLoaded) {
		if _, ferr := s.models.Repo.Find(name); ferr != nil {
			return &apiError{Status: http.StatusNotFound, Type: "ModelNotFound", Msg: "failed to unload '" + clip(name) + "': unknown model"}
		}
		err = nil // unloading a model that is not loaded succeeds, as in Triton
	}
	if err != nil {
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
