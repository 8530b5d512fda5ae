package repository

import (
	"fmt"
	"os"

	"github.com/trtserve/trtserve/model"
)

// Resolve reads a model's files and config into a model.Spec.
func (r *Repository) Resolve(e Entry) (*model.Spec, error) { return r.ResolveWith(e, nil) }

// ResolveWith is Resolve with override, when not nil, read in place of the
// model's config.yaml: the same keys, as YAML or JSON (KServe's load
// request carries the config as a JSON string).
func (r *Repository) ResolveWith(e Entry, override []byte) (*model.Spec, error) {
	if e.Source == model.SourceEngine {
		return r.resolveEngine(e, override)
	}
	info, err := ReadONNXInfoFile(e.File)
	if err != nil {
		return nil, err
	}
	m := &model.Spec{
		Name: e.Name, Version: e.Version, Dir: e.Dir, File: e.File, Source: e.Source,
		Backend: r.Defaults.Backend, NMS: model.NMSRoboflow, OutputLayout: model.LayoutYOLOv8,
		InstanceCount: r.Defaults.InstanceCount, ONNX: info,
	}
	if len(info.Inputs[0].Shape) != 4 {
		return nil, fmt.Errorf("%w: %s: input %s must be NCHW, got %v", model.ErrBadModel, e.ID(), info.Inputs[0].Name, info.Inputs[0].Shape)
	}
	if h, w := info.Inputs[0].Shape[2], info.Inputs[0].Shape[3]; h > 0 && w > 0 {
		m.InputHeight, m.InputWidth = int(h), int(w)
	}
	switch e.Source {
	case model.SourceRoboflow:
		err = applyRoboflow(m)
	default:
		err = applyUltralytics(m, info)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	cfgPath := e.ConfigPath()
	data, err := os.ReadFile(cfgPath)
	if override != nil {
		data, err = override, nil
	}
	if err == nil {
		fc, err := ParseFileConfig(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.ID(), err)
		}
		if err := applyFileConfig(m, fc); err != nil {
			return nil, fmt.Errorf("%s: %w", e.ID(), err)
		}
		m.Config = data
	}
	if m.Task == "" {
		return nil, fmt.Errorf("%w: %s: cannot tell the task (no Ultralytics metadata, no model_type.json): set task in %s", model.ErrBadModel, e.ID(), cfgPath)
	}
	if m.InputWidth <= 0 || m.InputHeight <= 0 {
		return nil, fmt.Errorf("%w: %s: input size is dynamic and no imgsz metadata or config says what it is: set input_width/input_height in %s", model.ErrBadModel, e.ID(), cfgPath)
	}
	if m.Pre.Std == ([3]float32{}) {
		m.Pre.Std = [3]float32{1, 1, 1}
	}
	if b := info.Inputs[0].Shape[0]; b > 0 {
		m.MaxBatchSize = int(b) // fixed-batch model: the file decides
	} else if m.MaxBatchSize == 0 {
		m.MaxBatchSize = r.Defaults.MaxBatchSize
	}
	if m.MaxBatchSize <= 0 {
		m.MaxBatchSize = 1
	}
	if m.InstanceCount <= 0 {
		m.InstanceCount = 1
	}
	if m.Backend == "" {
		m.Backend = model.BackendONNXRuntime
	}
	if r.Defaults.ForceBackend != "" {
		m.Backend = r.Defaults.ForceBackend
	}
	if err := checkSpec(m); err != nil { // bounds.go
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	return m, nil
}

// taskNormalization is Roboflow's: detection-like tasks divide by 255;
// classification and semantic segmentation also map [0,1] to [-1,1]
// ((x-0.5)/0.5), their base classes' default.
func taskNormalization(t model.Task) (mean, std [3]float32) {
	if t == model.Classification || t == model.SemanticSegmentation {
		return [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
	}
	return [3]float32{}, [3]float32{1, 1, 1}
}
