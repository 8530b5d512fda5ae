package tasks

import (
	"fmt"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Classification is image classification: one score per class, single
// label (softmax, the classes at or above the confidence) or multi-label
// (raw scores, the classes above it) as the model's Multiclass says.
type Classification struct{}

func init() { register(model.Classification, Classification{}) }

// Class is one class's score.
type Class struct {
	ClassID    int
	Class      string
	Confidence float64
}

// Classes is one image's classification.
type Classes struct {
	// Multilabel tells which of the two forms the model gives.
	Multilabel bool
	// Predictions (single label) are the classes at or above the
	// confidence, most confident first.
	Predictions []Class
	// Scores (multi-label) are every class's raw score, by class id;
	// Predicted the classes scoring above the confidence, in id order.
	Scores, Predicted []Class
}

// scores checks the output is [batch, classes] and matches the names.
func scores(spec *model.Spec, outputs []model.TensorInfo) (int, error) {
	if len(outputs) == 0 || len(outputs[0].Shape) != 2 || outputs[0].Shape[1] <= 0 {
		return 0, badOutputs(spec, outputs, "the first output must be [batch, classes]")
	}
	nc := int(outputs[0].Shape[1])
	if n := len(spec.ClassNames); n > 0 && n != nc {
		return 0, badOutputs(spec, outputs, "the model names %d classes but its output has %d scores", n, nc)
	}
	return nc, nil
}

// Validate checks the output holds one score per named class.
func (Classification) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	_, err := scores(spec, outputs)
	return err
}

// Postprocess classifies one image with the given confidence threshold.
func (Classification) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, _ *Frame, confidence float64) (Classes, error) {
	if _, err := scores(spec, outputs); err != nil {
		return Classes{}, err
	}
	s := out[0]
	if n := len(spec.ClassNames); n > 0 && n != len(s) {
		return Classes{}, fmt.Errorf("classification output has %d scores, the model names %d classes", len(s), n)
	}
	if spec.Multiclass {
		raw, predicted := vision.MultiLabel(s, confidence)
		r := Classes{Multilabel: true, Scores: make([]Class, len(raw)), Predicted: make([]Class, len(predicted))}
		for i, v := range raw {
			r.Scores[i] = Class{i, spec.ClassName(i), v}
		}
		for k, i := range predicted {
			r.Predicted[k] = r.Scores[i]
		}
		return r, nil
	}
	res := vision.Classify(s, confidence)
	r := Classes{Predictions: make([]Class, len(res))}
	for i, c := range res {
		r.Predictions[i] = Class{c.ClassID, spec.ClassName(c.ClassID), c.Confidence}
	}
	return r, nil
}

// Overlays label the picture: the top class with its confidence (single
// label) or every predicted class (multi-label).
func (Classification) Overlays(spec *model.Spec, r Classes) []vision.Overlay {
	var ids []int
	var labels []string
	if r.Multilabel {
		for _, c := range r.Predicted {
			ids, labels = append(ids, c.ClassID), append(labels, c.Class)
		}
	} else if len(r.Predictions) > 0 {
		top := r.Predictions[0]
		ids, labels = []int{top.ClassID}, []string{fmt.Sprintf("%s %.2f", top.Class, top.Confidence)}
	}
	return classOverlay(spec, ids, labels)
}
