package kserve

import (
	"context"
	"errors"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/trtserve/trtserve/engines"
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/repository"
)

// FindModel is the loaded model a request names: version, or the highest
// loaded version when version is "". A model not in the repository is
// NotFound; one in it but not loaded is Unavailable, with its state and
// the reason.
func FindModel(mg *pipeline.Manager, name, version string) (*pipeline.Model, error) {
	var m *pipeline.Model
	var ok bool
	if version == "" {
		m, ok = mg.Latest(name)
	} else {
		m, ok = mg.Get(name + "/" + version)
	}
	if ok {
		return m, nil
	}
	id := name
	if version != "" {
		id += "/" + version
	}
	e, err := mg.Repo.Find(id)
	if err != nil {
		return nil, &Error{Code: NotFound, Msg: "unknown model: '" + Clip(id) + "' is not in the model repository"}
	}
	st := mg.Status(e.ID())
	msg := "model '" + e.ID() + "' is not ready: " + string(st.State)
	if st.Reason != "" {
		msg += " (" + st.Reason + ")"
	}
	return nil, &Error{Code: Unavailable, Msg: msg}
}

// Platform names a backend as Triton's model metadata does.
func Platform(backend string) string {
	switch backend {
	case "onnxruntime":
		return "onnxruntime_onnx"
	case "tensorrt":
		return "tensorrt_plan"
	}
	return backend
}

// TensorMetadata is a tensor of the model metadata: a batching model's
// first dimension is -1.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the model metadata answer.
type ModelMetadata struct {
	Name, Platform  string
	Versions        []string // the loaded versions of the model, ascending
	Inputs, Outputs []TensorMetadata
}

func tensorsMetadata(ts []model.TensorInfo) []TensorMetadata {
	out := make([]TensorMetadata, len(ts))
	for i, t := range ts {
		shape := slices.Clone(t.Shape)
		shape[0] = -1
		out[i] = TensorMetadata{t.Name, string(t.DataType), shape}
	}
	return out
}

// Metadata is m's metadata; Versions lists every loaded version of its
// name.
func Metadata(mg *pipeline.Manager, m *pipeline.Model) ModelMetadata {
	var versions []string
	for _, l := range mg.Loaded() {
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
	return ModelMetadata{Name: m.Spec.Name, Platform: Platform(m.Spec.Backend), Versions: versions,
		Inputs: tensorsMetadata(m.Engine.Inputs()), Outputs: tensorsMetadata(m.Engine.Outputs())}
}

// ConfigTensor is a ModelInput / ModelOutput of Triton's model config:
// dims without the batch dimension; DataType is "TYPE_FP32" and so on.
type ConfigTensor struct {
	Name     string  `json:"name"`
	DataType string  `json:"data_type"`
	Format   string  `json:"format,omitempty"`
	Dims     []int64 `json:"dims"`
}

func configTensors(ts []model.TensorInfo, format string) []ConfigTensor {
	out := make([]ConfigTensor, len(ts))
	for i, t := range ts {
		out[i] = ConfigTensor{t.Name, "TYPE_" + string(t.DataType), format, slices.Clone(t.Shape[1:])}
	}
	return out
}

// ModelConfig is the resolved model in the terms of Triton's ModelConfig.
// What Triton's schema has no field for (task, classes, pipeline, resize)
// is in Parameters, as string values.
type ModelConfig struct {
	Name, Platform, Backend string
	MaxBatchSize            int
	Inputs, Outputs         []ConfigTensor // inputs in FORMAT_NCHW
	InstanceKind            string         // KIND_CPU or KIND_GPU
	InstanceCount           int
	MaxQueueDelayMicros     int64
	MaxQueueSize            int
	PreferredBatchSizes     []int
	Parameters              map[string]string
}

// Config is m's configuration.
func Config(m *pipeline.Model) ModelConfig {
	spec, opts := m.Spec, m.Options()
	kind := "KIND_CPU"
	if spec.Backend != "onnxruntime" {
		kind = "KIND_GPU"
	}
	classes, _ := gojson.Marshal(spec.ClassNames)
	return ModelConfig{
		Name: spec.Name, Platform: Platform(spec.Backend), Backend: spec.Backend,
		MaxBatchSize: m.MaxBatch(),
		Inputs:       configTensors(m.Engine.Inputs(), "FORMAT_NCHW"),
		Outputs:      configTensors(m.Engine.Outputs(), ""),
		InstanceKind: kind, InstanceCount: spec.InstanceCount,
		MaxQueueDelayMicros: opts.MaxQueueDelay.Microseconds(), MaxQueueSize: opts.MaxQueueSize,
		PreferredBatchSizes: opts.PreferredBatchSizes,
		Parameters: map[string]string{
			"task": string(spec.Task), "class_names": string(classes),
			"pipeline": string(opts.Mode), "resize": string(spec.Pre.Resize),
		},
	}
}

// DurationStat is a count and its summed nanoseconds.
type DurationStat struct {
	Count uint64 `json:"count"`
	Ns    uint64 `json:"ns"`
}

// BatchStat is one batch size's executions.
type BatchStat struct {
	BatchSize     int          `json:"batch_size"`
	ComputeInput  DurationStat `json:"compute_input"`
	ComputeInfer  DurationStat `json:"compute_infer"`
	ComputeOutput DurationStat `json:"compute_output"`
}

// InferStats are a model's request durations by stage.
type InferStats struct {
	Success       DurationStat `json:"success"`
	Fail          DurationStat `json:"fail"`
	Queue         DurationStat `json:"queue"`
	ComputeInput  DurationStat `json:"compute_input"`
	ComputeInfer  DurationStat `json:"compute_infer"`
	ComputeOutput DurationStat `json:"compute_output"`
	CacheHit      DurationStat `json:"cache_hit"`
	CacheMiss     DurationStat `json:"cache_miss"`
}

// ModelStats is one model version's statistics, Triton's shape (the JSON
// names are the HTTP statistics extension's).
type ModelStats struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	LastInference  int64       `json:"last_inference"`
	InferenceCount uint64      `json:"inference_count"`
	ExecutionCount uint64      `json:"execution_count"`
	InferenceStats InferStats  `json:"inference_stats"`
	BatchStats     []BatchStat `json:"batch_stats"`
}

// Stats reads a model's counters in Triton's terms: durations of
// successful requests, each request counted once in every stage.
func Stats(m *pipeline.Model) ModelStats {
	st := m.Stats
	out := ModelStats{
		Name: m.Spec.Name, Version: m.Spec.Version, LastInference: st.LastInference.Load(),
		InferenceCount: st.InferenceCount.Load(), ExecutionCount: st.ExecutionCount.Load(),
		BatchStats: []BatchStat{},
	}
	ok := st.RequestSuccess.Load()
	is := &out.InferenceStats
	is.Success = DurationStat{ok, st.RequestNs.Load()}
	var failed uint64
	for _, n := range st.Failures() {
		failed += n
	}
	is.Fail = DurationStat{failed, st.FailNs.Load()}
	is.Queue = DurationStat{ok, st.QueueNs.Load()}
	is.ComputeInput = DurationStat{ok, st.ComputeInputNs.Load()}
	is.ComputeInfer = DurationStat{ok, st.ComputeInferNs.Load()}
	is.ComputeOutput = DurationStat{ok, st.ComputeOutputNs.Load()}
	for b := 1; b < len(st.Batches); b++ {
		n := st.Batches[b].Load()
		if n == 0 {
			continue
		}
		out.BatchStats = append(out.BatchStats, BatchStat{
			BatchSize:     b,
			ComputeInput:  DurationStat{n, st.BatchInputNs[b].Load()},
			ComputeInfer:  DurationStat{n, st.BatchInferNs[b].Load()},
			ComputeOutput: DurationStat{n, st.BatchOutputNs[b].Load()},
		})
	}
	return out
}

// Statistics is the statistics of every loaded model (name ""), of one
// model's loaded versions (version ""), or of one version. A named model
// with no loaded version is FindModel's error.
func Statistics(mg *pipeline.Manager, name, version string) ([]ModelStats, error) {
	var models []*pipeline.Model
	switch {
	case version != "":
		m, err := FindModel(mg, name, version)
		if err != nil {
			return nil, err
		}
		models = []*pipeline.Model{m}
	case name != "":
		for _, m := range mg.Loaded() {
			if m.Spec.Name == name {
				models = append(models, m)
			}
		}
		if len(models) == 0 {
			if _, err := FindModel(mg, name, ""); err != nil {
				return nil, err
			}
		}
	default:
		models = mg.Loaded()
	}
	out := make([]ModelStats, len(models))
	for i, m := range models {
		out[i] = Stats(m)
	}
	return out, nil
}

// IndexEntry is one row of the repository index.
type IndexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
}

// Index lists the repository's versions with their states; ready keeps
// only the READY ones.
func Index(mg *pipeline.Manager, ready bool) ([]IndexEntry, error) {
	statuses, err := mg.Index()
	if err != nil {
		return nil, err
	}
	out := []IndexEntry{}
	for _, st := range statuses {
		if !ready || st.State == pipeline.StateReady {
			out = append(out, IndexEntry{st.Name, st.Version, string(st.State), st.Reason})
		}
	}
	return out, nil
}

// Model control modes (Triton's --model-control-mode), as in config.
const (
	ControlNone     = "none"
	ControlPoll     = "poll"
	ControlExplicit = "explicit"
)

// ControlAllowed refuses model loads and unloads by API unless the model
// control mode is explicit ("" counts as explicit), as Triton does.
func ControlAllowed(mode string) error {
	switch mode {
	case ControlExplicit, "":
		return nil
	case ControlPoll:
		return invalid("explicit model load / unload is not allowed: the model control mode is poll (the repository poller loads and unloads)")
	}
	return invalid("explicit model load / unload is not allowed: the model control mode is none")
}

// LoadParams checks a load request's parameters: "config", a string
// holding config.yaml's keys as JSON, replaces config.yaml for this load
// (returned as override); "file:" parameters (uploading weights) are
// Unimplemented; others are ignored. Values are the parameters' string
// values (ok false: the parameter is not a string).
func LoadParams(params map[string]Param) (override []byte, err error) {
	for k, v := range params {
		switch {
		case k == "config":
			if v.String == nil {
				return nil, invalid("parameter config must be a string holding the model configuration as JSON")
			}
			override = []byte(*v.String)
		case strings.HasPrefix(k, "file:"):
			return nil, &Error{Code: Unimplemented, Msg: "load parameter " + Clip(k) + ": uploading model files is not supported; put them in the model repository"}
		}
	}
	return override, nil
}

// Load loads (or reloads) the highest version of a model, with override
// in place of its config.yaml when not nil. It returns the loaded ID.
func Load(ctx context.Context, mg *pipeline.Manager, name string, override []byte) (string, error) {
	e, err := mg.Repo.Find(name)
	if err != nil {
		return "", &Error{Code: NotFound, Msg: "failed to load '" + Clip(name) + "': not in the model repository"}
	}
	if _, err := mg.Reload(ctx, e.ID(), override); err != nil {
		if errors.Is(err, model.ErrBadModel) || errors.Is(err, engines.ErrBackendMissing) || errors.Is(err, engines.ErrUnknownBackend) || errors.Is(err, engines.ErrBadShape) || errors.Is(err, pipeline.ErrInsufficientMemory) {
			return "", invalid("load failed for model '%s': %v", name, err)
		}
		return "", err
	}
	return e.ID(), nil
}

// Unload unloads every loaded version of a model. Unloading a model that
// is not loaded succeeds, as in Triton; an unknown one is NotFound.
func Unload(mg *pipeline.Manager, name string) error {
	err := mg.UnloadName(name)
	if errors.Is(err, pipeline.ErrNotLoaded) {
		if _, ferr := mg.Repo.Find(name); ferr != nil {
			return &Error{Code: NotFound, Msg: "failed to unload '" + Clip(name) + "': unknown model"}
		}
		err = nil
	}
	return err
}
