package repository

import "github.com/trtserve/trtserve/model"

// The classifier and semantic-segmentation families. They have no
// detector layout; what sets them apart is the mean and std their
// inference-core 1.8.3 classes normalise with (the class attributes
// preprocess_means/preprocess_stds): ResNetClassification and
// DeepLabV3PlusSemanticSegmentation use ImageNet's, VitClassification
// Roboflow's classification default ((x-0.5)/0.5). Their answers are
// otherwise their base classes': softmax for single-label classification,
// the raw outputs for multi-label (MULTICLASS), no sigmoid; a per-pixel
// softmax and argmax for semantic segmentation. ResNet and ViT read
// best.onnx from the cache folder (scan.go), DeepLabV3+ weights.onnx.
var (
	familyResNet  = &Family{Name: "resnet", Normalization: imagenetNormalization}
	familyViT     = &Family{Name: "vit", Normalization: halfNormalization}
	familyDeepLab = &Family{Name: "deep_lab_v3_plus", Normalization: imagenetNormalization}
)

// imagenetNormalization is ImageNet's mean and std, as ResNetClassification
// and DeepLabV3PlusSemanticSegmentation set them.
func imagenetNormalization(model.Task) (mean, std [3]float32) {
	return [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
}

// halfNormalization maps [0,1] to [-1,1], as VitClassification sets it.
func halfNormalization(model.Task) (mean, std [3]float32) {
	return [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
}

func init() {
	addFamily(familyResNet, model.Classification, sizes("resnet", "", "18", "34", "50", "101")...)
	addFamily(familyViT, model.Classification, "vit")
	// "deep-lab-v3-plus" is the name inference-core's inference-models
	// stack (USE_INFERENCE_MODELS) also maps; the legacy class reads the
	// same folder.
	addFamily(familyDeepLab, model.SemanticSegmentation, "deeplabv3plus", "deep-lab-v3-plus")
}
