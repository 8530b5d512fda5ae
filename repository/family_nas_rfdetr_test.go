package repository

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// YOLO-NAS and RF-DETR cache folders resolve as inference-core 1.8.3's
// classes read them: the family's layout, RF-DETR's ImageNet mean and std
// applied before the resize, Roboflow's background class out of the class
// list (its place remembered), a resolution at or above 1600 refused, and
// a non-square Fit training size warned about.
func TestYOLONASAndRFDETRFamilies(t *testing.T) {
	cache := t.TempDir()
	stretch := `"{\"resize\": {\"enabled\": true, \"width\": 112, \"height\": 112, \"format\": \"Stretch to\"}}"`
	for _, c := range []struct {
		name, onnx, task, modelType, env, classes string
		layout                                    model.OutputLayout
		names                                     []string
		oneIndexed                                bool
		background                                int
		err, warning                              string
	}{
		{name: "nas", onnx: "yolonas-s-320", task: "object-detection", modelType: "yolo_nas_s", env: `{"PREPROCESSING": ` + stretch + `}`,
			classes: "a\nb\n", layout: model.LayoutYOLONAS, names: []string{"a", "b"}},
		{name: "nas2", onnx: "yolonas-s-320", task: "object-detection", modelType: "yolonas", env: `{"PREPROCESSING": ` + stretch + `}`,
			classes: "a\n", layout: model.LayoutYOLONAS, names: []string{"a"}},
		{name: "rf", onnx: "rfdetr-nano-112", task: "object-detection", modelType: "rfdetr-nano", env: `{"PREPROCESSING": ` + stretch + `, "RESOLUTION": 112}`,
			classes: "cells\nbackground_class83422\nred\nwhite\n", layout: model.LayoutRFDETR, names: []string{"cells", "red", "white"}, oneIndexed: true, background: 1},
		{name: "rfseg", onnx: "rfdetr-seg-112", task: "instance-segmentation", modelType: "rfdetr-seg-preview", env: `{"PREPROCESSING": ` + stretch + `, "RESOLUTION": "112"}`,
			classes: "a\nb\n", layout: model.LayoutRFDETR, names: []string{"a", "b"}},
		{name: "rfbig", onnx: "rfdetr-nano-112", task: "object-detection", modelType: "rfdetr-base", env: `{"PREPROCESSING": ` + stretch + `, "RESOLUTION": [1600, 1600]}`,
			classes: "a\n", err: "1600"},
		{name: "rfbig2", onnx: "rfdetr-nano-112", task: "object-detection", modelType: "rfdetr", env: `{"PREPROCESSING": "{\"resize\": {\"width\": 2000, \"height\": 2000, \"format\": \"Stretch to\"}}"}`,
			classes: "a\n", err: "2000"},
		{name: "rfwide", onnx: "rfdetr-nano-112", task: "object-detection", modelType: "rfdetr-small", env: `{"PREPROCESSING": "{\"resize\": {\"width\": 640, \"height\": 480, \"format\": \"Fit (black edges) in\"}}", "RESOLUTION": 112}`,
			classes: "a\n", layout: model.LayoutRFDETR, names: []string{"a"}, warning: "letterboxes to 640x480"},
	} {
		dir := filepath.Join(cache, c.name, "1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		src, _ := filepath.Abs(filepath.Join("..", "testdata", "models", c.onnx, "weights.onnx"))
		if err := os.Symlink(src, filepath.Join(dir, "weights.onnx")); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "environment.json"), c.env)
		write(t, filepath.Join(dir, "class_names.txt"), c.classes)
		write(t, filepath.Join(dir, "model_type.json"), `{"project_task_type": "`+c.task+`", "model_type": "`+c.modelType+`"}`)
		repo := &Repository{Roots: []string{cache}, Defaults: Defaults{MaxBatchSize: 1, InstanceCount: 1}}
		e, err := repo.Find(c.name + "/1")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m, err := repo.Resolve(e)
		if c.err != "" {
			if !errors.Is(err, model.ErrBadModel) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want a bad model naming %s", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.OutputLayout != c.layout || strings.Join(m.ClassNames, ",") != strings.Join(c.names, ",") ||
			m.OneIndexed != c.oneIndexed || m.BackgroundClass != c.background {
			t.Errorf("%s: layout %s classes %v one-indexed %v background %d", c.name, m.OutputLayout, m.ClassNames, m.OneIndexed, m.BackgroundClass)
		}
		rf := c.layout == model.LayoutRFDETR
		if wantMean := [3]float32{0.485, 0.456, 0.406}; rf != (m.Pre.Mean == wantMean) || m.Pre.NormalizeFirst != rf {
			t.Errorf("%s: mean %v std %v normalise first %v", c.name, m.Pre.Mean, m.Pre.Std, m.Pre.NormalizeFirst)
		}
		if got := strings.Join(m.Warnings, "; "); (c.warning == "") != (got == "") || !strings.Contains(got, c.warning) {
			t.Errorf("%s: warnings %q, want %q", c.name, got, c.warning)
		}
	}
}

// A bare RF-DETR export in the model repository, told its layout by
// config.yaml, gets RF-DETR's preprocessing; the file may still override
// its mean, std and order.
func TestConfigYAMLRFDETR(t *testing.T) {
	for _, c := range []struct {
		config    string
		mean      [3]float32
		normFirst bool
	}{
		{"task: object-detection\noutput_layout: rfdetr\n", [3]float32{0.485, 0.456, 0.406}, true},
		{"task: object-detection\noutput_layout: rfdetr\npreprocessing:\n  mean: [0.5, 0.5, 0.5]\n  normalize_first: false\n", [3]float32{0.5, 0.5, 0.5}, false},
		{"task: object-detection\npreprocessing:\n  normalize_first: true\n", [3]float32{}, true},
	} {
		root := t.TempDir()
		dir := filepath.Join(root, "rf", "1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		src, _ := filepath.Abs(filepath.Join("..", "testdata", "models", "rfdetr-nano-112", "weights.onnx"))
		if err := os.Symlink(src, filepath.Join(dir, "model.onnx")); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(root, "rf", "config.yaml"), c.config)
		repo := &Repository{Roots: []string{root}, Defaults: Defaults{MaxBatchSize: 1, InstanceCount: 1}}
		e, err := repo.Find("rf/1")
		if err != nil {
			t.Fatal(err)
		}
		m, err := repo.Resolve(e)
		if err != nil {
			t.Fatalf("%q: %v", c.config, err)
		}
		if m.Pre.Mean != c.mean || m.Pre.NormalizeFirst != c.normFirst {
			t.Errorf("%q: mean %v normalise first %v", c.config, m.Pre.Mean, m.Pre.NormalizeFirst)
		}
	}
}
