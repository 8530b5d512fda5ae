package repository

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/trtserve/trtserve/model"
)

// EngineFile is the prebuilt TensorRT engine in a version folder
// (model.engine, or model.plan as Triton names it), or "".
func EngineFile(dir string) string {
	for _, n := range []string{"model.engine", "model.plan"} {
		if p := filepath.Join(dir, n); fileExists(p) {
			return p
		}
	}
	return ""
}

// resolveEngine resolves a version folder holding only a TensorRT engine:
// nothing in the file says what the model is, so config.yaml must give the
// task and input size, and only the tensorrt backend can run it.
func (r *Repository) resolveEngine(e Entry, override []byte) (*model.Spec, error) {
	m := &model.Spec{
		Name: e.Name, Version: e.Version, Dir: e.Dir, File: e.File, Source: e.Source,
		Backend: model.BackendTensorRT, NMS: model.NMSRoboflow, OutputLayout: model.LayoutYOLOv8,
		InstanceCount: r.Defaults.InstanceCount, MaxBatchSize: r.Defaults.MaxBatchSize,
	}
	cfgPath := e.ConfigPath()
	data, err := os.ReadFile(cfgPath)
	if override != nil {
		data, err = override, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s holds only a TensorRT engine, so %s must say its task and input size", model.ErrBadModel, e.ID(), filepath.Base(e.File), cfgPath)
	}
	fc, err := ParseFileConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	if err := applyFileConfig(m, fc); err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	m.Config = data
	if m.Backend != model.BackendTensorRT {
		return nil, fmt.Errorf("%w: %s: %s is a TensorRT engine; backend %q cannot run it", model.ErrBadModel, e.ID(), filepath.Base(e.File), m.Backend)
	}
	if m.Task == "" || m.InputWidth <= 0 || m.InputHeight <= 0 {
		return nil, fmt.Errorf("%w: %s: set task, input_width and input_height in %s (an engine file carries no metadata)", model.ErrBadModel, e.ID(), cfgPath)
	}
	if m.Pre.Std == ([3]float32{}) {
		m.Pre.Std = [3]float32{1, 1, 1}
	}
	m.MaxBatchSize = max(m.MaxBatchSize, 1)
	m.InstanceCount = max(m.InstanceCount, 1)
	if err := checkSpec(m); err != nil { // bounds.go
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	return m, nil
}
