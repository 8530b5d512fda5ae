package repository

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trtserve/trtserve/model"
)

// FileConfig is models/<name>/config.yaml. Every field is optional and
// overrides what was read from the model's own files.
type FileConfig struct {
	Backend       string   `yaml:"backend"`
	Task          string   `yaml:"task"`
	ClassNames    []string `yaml:"class_names"`
	InputWidth    int      `yaml:"input_width"`
	InputHeight   int      `yaml:"input_height"`
	Preprocessing struct {
		Resize     string      `yaml:"resize"`
		AutoOrient *bool       `yaml:"auto_orient"`
		Mean       *[3]float32 `yaml:"mean"`
		Std        *[3]float32 `yaml:"std"`
		// NormalizeFirst: mean/std before the resize, in float (RF-DETR's
		// order; the default under output_layout: rfdetr).
		NormalizeFirst *bool `yaml:"normalize_first"`
	} `yaml:"preprocessing"`
	NMS             model.NMS              `yaml:"nms"`
	OutputLayout    model.OutputLayout     `yaml:"output_layout"`
	MaxBatchSize    int                    `yaml:"max_batch_size"`
	InstanceCount   int                    `yaml:"instance_count"`
	DynamicBatching *model.DynamicBatching `yaml:"dynamic_batching"`

	// Keys that belong to one backend. They are named here so that a
	// misspelt key is still an error, but left undecoded: the backend reads
	// them from Spec.Config on Load and says what is wrong with them.
	Simulated yaml.Node `yaml:"simulated"` // engines/simulated: timings and faults
	Precision yaml.Node `yaml:"precision"` // engines/tensorrt: build precision
	TF32      yaml.Node `yaml:"tf32"`      // engines/tensorrt: false clears kTF32
}

// ParseFileConfig decodes config.yaml strictly: unknown keys are errors, so
// a typo never silently falls back to a default.
func ParseFileConfig(data []byte) (*FileConfig, error) {
	var c FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: config.yaml: %v", model.ErrBadModel, err)
	}
	if c.NMS != "" && c.NMS != model.NMSRoboflow && c.NMS != model.NMSUltralytics {
		return nil, fmt.Errorf("%w: config.yaml: nms must be roboflow or ultralytics, got %q", model.ErrBadModel, c.NMS)
	}
	if c.OutputLayout != "" && !knownLayout(c.OutputLayout) {
		return nil, fmt.Errorf("%w: config.yaml: output_layout must be one of %s, got %q", model.ErrBadModel, strings.Join(knownLayouts(), ", "), c.OutputLayout)
	}
	if c.MaxBatchSize < 0 || c.InstanceCount < 0 {
		return nil, fmt.Errorf("%w: config.yaml: max_batch_size and instance_count must not be negative", model.ErrBadModel)
	}
	if err := checkFileConfig(&c); err != nil {
		return nil, fmt.Errorf("config.yaml: %w", err)
	}
	return &c, nil
}

func applyFileConfig(m *model.Spec, c *FileConfig) error {
	if c.Backend != "" {
		m.Backend = c.Backend
	}
	if c.Task != "" {
		t, err := model.ParseTask(c.Task)
		if err != nil {
			return err
		}
		m.Task = t
		m.Pre.Mean, m.Pre.Std = taskNormalization(t)
	}
	if len(c.ClassNames) > 0 {
		m.ClassNames = c.ClassNames
	}
	if c.InputWidth > 0 {
		m.InputWidth = c.InputWidth
	}
	if c.InputHeight > 0 {
		m.InputHeight = c.InputHeight
	}
	if c.Preprocessing.Resize != "" {
		m.Pre.Resize = model.ParseResizeMode(c.Preprocessing.Resize)
	}
	if c.Preprocessing.AutoOrient != nil {
		m.Pre.AutoOrient = *c.Preprocessing.AutoOrient
	}
	if c.Preprocessing.Mean != nil {
		m.Pre.Mean = *c.Preprocessing.Mean
	}
	if c.Preprocessing.Std != nil {
		for _, s := range c.Preprocessing.Std {
			if s == 0 {
				return fmt.Errorf("%w: config.yaml: preprocessing.std must not be 0", model.ErrBadModel)
			}
		}
		m.Pre.Std = *c.Preprocessing.Std
	}
	if c.NMS != "" {
		m.NMS = c.NMS
	}
	if c.OutputLayout != "" {
		m.OutputLayout = c.OutputLayout
		if c.OutputLayout == model.LayoutRFDETR {
			// RF-DETR's preprocessing, as its Roboflow family has it,
			// wherever the file does not say otherwise.
			m.Pre.NormalizeFirst = true
			mean, std := rfdetrNormalization(m.Task)
			if c.Preprocessing.Mean == nil {
				m.Pre.Mean = mean
			}
			if c.Preprocessing.Std == nil {
				m.Pre.Std = std
			}
		}
	}
	if c.Preprocessing.NormalizeFirst != nil {
		m.Pre.NormalizeFirst = *c.Preprocessing.NormalizeFirst
	}
	if c.MaxBatchSize > 0 {
		m.MaxBatchSize = c.MaxBatchSize
	}
	if c.InstanceCount > 0 {
		m.InstanceCount = c.InstanceCount
	}
	if c.DynamicBatching != nil {
		m.Batching = *c.DynamicBatching
	}
	return nil
}
