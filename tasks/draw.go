package tasks

import (
	"fmt"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// DrawOptions say how predictions are drawn.
type DrawOptions struct {
	// Stroke is the box outline's width in pixels.
	Stroke int
	// Labels draws each prediction's class and confidence.
	Labels bool
}

// Draw renders overlays on the frame's image as a JPEG and releases the
// image; nil when the frame kept none (Input.KeepImage was off).
// Classification labels are always drawn: they are the whole drawing.
func Draw(spec *model.Spec, f *Frame, overlays []vision.Overlay, o DrawOptions) ([]byte, error) {
	if f.Image == nil {
		return nil, nil
	}
	defer func() { f.Image.Release(); f.Image = nil }()
	labels := o.Labels || spec.Task == model.Classification
	return vision.EncodeJPEG(vision.Draw(f.Image, overlays, o.Stroke, labels))
}

// boxOverlay is a box and its label, in its class colour.
func boxOverlay(spec *model.Spec, b Box) vision.Overlay {
	return vision.Overlay{
		Box:   [4]float64{b.X - b.Width/2, b.Y - b.Height/2, b.X + b.Width/2, b.Y + b.Height/2},
		Color: vision.ClassColor(spec.Colors, b.Class, b.ClassID),
		Label: fmt.Sprintf("%s %.2f", b.Class, b.Confidence),
	}
}

// classOverlay labels a classification: one tab per class, stacked from
// the top-left corner.
func classOverlay(spec *model.Spec, ids []int, labels []string) []vision.Overlay {
	var out []vision.Overlay
	for i, id := range ids {
		out = append(out, vision.Overlay{
			Box:   [4]float64{0, float64(16 * (i + 1)), 0, float64(16 * (i + 1))},
			Color: vision.ClassColor(spec.Colors, spec.ClassName(id), id),
			Label: labels[i],
		})
	}
	return out
}

// DrawResult draws a task's result on the frame's image (see Draw).
func DrawResult[O, R any](task Decoder[O, R], spec *model.Spec, f *Frame, r R, o DrawOptions) ([]byte, error) {
	if f.Image == nil {
		return nil, nil
	}
	return Draw(spec, f, task.Overlays(spec, r), o)
}
