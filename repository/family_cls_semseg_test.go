package repository

import (
	"path/filepath"
	"testing"

	"github.com/trtserve/trtserve/model"
)

// ResNet, ViT and DeepLabV3+ cache folders resolve as inference-core
// 1.8.3's classes read them: best.onnx for the classifiers, weights.onnx
// for DeepLabV3+ (a new task), each family's mean and std; a
// classification model_type it does not map keeps Roboflow's
// classification default, and the tasks' defaults stay as they were.
func TestClassifierAndSemanticFamilies(t *testing.T) {
	imagenet := [2][3]float32{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}
	half := [2][3]float32{{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}}
	cache := t.TempDir()
	pre := `{"PREPROCESSING": "{\"resize\": {\"enabled\": true, \"width\": 224, \"height\": 224, \"format\": \"Stretch to\"}}", "CLASS_MAP": {"0": "cat", "1": "dog"}}`
	for _, c := range []struct {
		name, weights, onnx, task, modelType string
		want                                 model.Task
		norm                                 [2][3]float32
	}{ // the exports fix their input size (224, 128): it wins over environment.json's
		{"resnet", "best.onnx", "resnet-cls-224", "classification", "resnet18", model.Classification, imagenet},
		{"resnet101", "best.onnx", "resnet-cls-224", "classification", "resnet101", model.Classification, imagenet},
		{"vit", "best.onnx", "vit-cls-224", "classification", "vit", model.Classification, half},
		{"deeplab", "weights.onnx", "deeplabv3plus-128", "semantic-segmentation", "deeplabv3plus", model.SemanticSegmentation, imagenet},
		{"deeplab-im", "weights.onnx", "deeplabv3plus-128", "semantic-segmentation", "deep-lab-v3-plus", model.SemanticSegmentation, imagenet},
		{"unmapped-sem", "weights.onnx", "deeplabv3plus-128", "semantic-segmentation", "segformer", model.SemanticSegmentation, half},
		{"unmapped-cls", "best.onnx", "resnet-cls-224", "classification", "efficientnet", model.Classification, half},
	} {
		dir := filepath.Join(cache, c.name, "1")
		link(t, "../testdata/models/"+c.onnx+"/1/model.onnx", filepath.Join(dir, c.weights))
		write(t, filepath.Join(dir, "environment.json"), pre)
		write(t, filepath.Join(dir, "model_type.json"), `{"project_task_type": "`+c.task+`", "model_type": "`+c.modelType+`"}`)
		repo := &Repository{Roots: []string{cache}, Defaults: Defaults{MaxBatchSize: 4, InstanceCount: 1}}
		e, err := repo.Find(c.name + "/1")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m, err := repo.Resolve(e)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.Source != model.SourceRoboflow || filepath.Base(m.File) != c.weights || m.Task != c.want ||
			m.Pre.Mean != c.norm[0] || m.Pre.Std != c.norm[1] || m.InputWidth != map[model.Task]int{model.Classification: 224, model.SemanticSegmentation: 128}[c.want] || len(m.ClassNames) != 2 {
			t.Errorf("%s: %s task %s mean %v std %v input %d classes %v", c.name, m.File, m.Task, m.Pre.Mean, m.Pre.Std, m.InputWidth, m.ClassNames)
		}
	}
	if got, _ := model.ParseTask("semantic_segmentation"); got != model.SemanticSegmentation {
		t.Errorf("ParseTask(semantic_segmentation) = %q", got)
	}
}
