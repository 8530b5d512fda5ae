package repository

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/model"
)

// roboflowEnv is the part of environment.json trtserve uses.
type roboflowEnv struct {
	Preprocessing json.RawMessage   `json:"PREPROCESSING"`
	ClassMap      map[string]string `json:"CLASS_MAP"`
	Colors        map[string]string `json:"COLORS"`
	Multiclass    bool              `json:"MULTICLASS"`
}

type roboflowPre struct {
	AutoOrient *struct {
		Enabled bool `json:"enabled"`
	} `json:"auto-orient"`
	Resize *struct {
		Enabled bool   `json:"enabled"`
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Format  string `json:"format"`
	} `json:"resize"`
	StaticCrop *struct {
		Enabled bool    `json:"enabled"`
		XMin    float64 `json:"x_min"`
		YMin    float64 `json:"y_min"`
		XMax    float64 `json:"x_max"`
		YMax    float64 `json:"y_max"`
	} `json:"static-crop"`
	Grayscale *struct {
		Enabled bool `json:"enabled"`
	} `json:"grayscale"`
	Contrast *struct {
		Enabled bool   `json:"enabled"`
		Type    string `json:"type"`
	} `json:"contrast"`
}

// parseRoboflowPreprocessing decodes environment.json's PREPROCESSING, which
// Roboflow stores either as an object or as a JSON string holding one.
func parseRoboflowPreprocessing(raw json.RawMessage) (*roboflowPre, error) {
	var pre roboflowPre
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return &pre, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, &pre); err != nil {
		return nil, err
	}
	return &pre, nil
}

// applyRoboflow reads a Roboflow model-cache folder: model_type.json,
// environment.json, class_names.txt, keypoints_metadata.json.
func applyRoboflow(m *model.Spec) error {
	var mt struct {
		TaskType  string `json:"project_task_type"`
		ModelType string `json:"model_type"`
	}
	if data, err := os.ReadFile(filepath.Join(m.Dir, "model_type.json")); err == nil {
		if err := json.Unmarshal(data, &mt); err != nil {
			return fmt.Errorf("%w: model_type.json: %v", model.ErrBadModel, err)
		}
		if mt.TaskType != "" {
			t, err := model.ParseTask(mt.TaskType)
			if err != nil {
				return err
			}
			m.Task = t
		}
		m.ModelType = mt.ModelType
	}
	fam, _ := familyOf(m.Task, m.ModelType)
	m.OutputLayout = fam.Layout
	if fam.NMS != "" {
		m.NMS = fam.NMS
	}
	var env roboflowEnv
	envData, err := os.ReadFile(filepath.Join(m.Dir, "environment.json"))
	if err != nil {
		return fmt.Errorf("%w: Roboflow model folder without environment.json: %v", model.ErrBadModel, err)
	}
	if err := json.Unmarshal(envData, &env); err != nil {
		return fmt.Errorf("%w: environment.json: %v", model.ErrBadModel, err)
	}
	pre, err := parseRoboflowPreprocessing(env.Preprocessing)
	if err != nil {
		return fmt.Errorf("%w: environment.json PREPROCESSING: %v", model.ErrBadModel, err)
	}
	m.Pre.Resize = model.Stretch
	if pre.Resize != nil {
		m.Pre.Resize = model.ParseResizeMode(pre.Resize.Format)
		if m.InputWidth == 0 && pre.Resize.Width > 0 && pre.Resize.Height > 0 {
			m.InputWidth, m.InputHeight = pre.Resize.Width, pre.Resize.Height
		}
	}
	if m.InputWidth == 0 { // Roboflow's fallback for a fully dynamic input
		m.InputWidth, m.InputHeight = 640, 640
	}
	m.Pre.AutoOrient = pre.AutoOrient != nil && pre.AutoOrient.Enabled
	if c := pre.StaticCrop; c != nil && c.Enabled {
		m.Pre.StaticCrop = &model.StaticCrop{XMin: c.XMin, YMin: c.YMin, XMax: c.XMax, YMax: c.YMax}
	}
	if c := pre.Contrast; c != nil && c.Enabled {
		m.Pre.Contrast = model.Contrast(c.Type)
		if !m.Pre.Contrast.Known() {
			m.Warnings = append(m.Warnings, fmt.Sprintf("environment.json asks for contrast adjustment %q, which trtserve does not apply: predictions may differ from Roboflow's", c.Type))
		}
	}
	m.Pre.Grayscale = pre.Grayscale != nil && pre.Grayscale.Enabled
	m.Colors = env.Colors
	m.Multiclass = env.Multiclass
	if data, err := os.ReadFile(filepath.Join(m.Dir, "class_names.txt")); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(data), "\r\n"), "\n") {
			m.ClassNames = append(m.ClassNames, strings.TrimRight(line, "\r"))
		}
	} else if len(env.ClassMap) > 0 {
		m.ClassNames = make([]string, len(env.ClassMap))
		for k, v := range env.ClassMap {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(env.ClassMap) {
				return fmt.Errorf("%w: environment.json CLASS_MAP key %q", model.ErrBadModel, k)
			}
			m.ClassNames[i] = v
		}
	}
	if data, err := os.ReadFile(filepath.Join(m.Dir, "keypoints_metadata.json")); err == nil {
		names, err := parseKeypointsMetadata(data)
		if err != nil {
			return err
		}
		m.KeypointNames = names
	}
	m.Pre.Mean, m.Pre.Std = taskNormalization(m.Task)
	if fam.Normalization != nil {
		m.Pre.Mean, m.Pre.Std = fam.Normalization(m.Task)
	}
	if fam.Adjust != nil {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(envData, &keys); err != nil {
			return fmt.Errorf("%w: environment.json: %v", model.ErrBadModel, err)
		}
		if err := fam.Adjust(m, keys); err != nil {
			return err
		}
	}
	return nil
}

// parseKeypointsMetadata reads Roboflow's keypoints_metadata.json: a list of
// {"object_class_id": n, "keypoints": {"0": "nose", ...}}; trtserve serves
// one keypoint skeleton per model, the first entry's.
func parseKeypointsMetadata(data []byte) ([]string, error) {
	var entries []struct {
		Keypoints map[string]string `json:"keypoints"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("%w: keypoints_metadata.json: %v", model.ErrBadModel, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	kp := entries[0].Keypoints
	out := make([]string, len(kp))
	for k, v := range kp {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(kp) {
			return nil, fmt.Errorf("%w: keypoints_metadata.json key %q", model.ErrBadModel, k)
		}
		out[i] = v
	}
	return out, nil
}
