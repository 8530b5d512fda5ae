package server

import (
	"encoding/base64"
	"fmt"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// visOptions are a request's visualization settings.
type visOptions struct {
	stroke int
	labels bool
	// image answers the JPEG itself (legacy format=image), not base64 in JSON.
	image bool
}

// visFlags are a request's visualization fields.
type visFlags struct {
	Visualize *bool `json:"visualize_predictions"`
	VisLabels *bool `json:"visualization_labels"`
	VisStroke *int  `json:"visualization_stroke_width"`
	// imageFormat is the legacy route's format=image: answer the drawing
	// itself as image/jpeg.
	imageFormat bool
}

// options reads visualize_predictions, visualization_labels and
// visualization_stroke_width (Roboflow's default stroke: 1); nil when no
// drawing is asked for.
func (f visFlags) options() (*visOptions, error) {
	if !isTrue(f.Visualize) {
		return nil, nil
	}
	v := &visOptions{stroke: 1, image: f.imageFormat, labels: isTrue(f.VisLabels)}
	if f.VisStroke != nil {
		if *f.VisStroke < 1 || *f.VisStroke > 100 {
			return nil, badRequest("visualization_stroke_width must be between 1 and 100, got %d", *f.VisStroke)
		}
		v.stroke = *f.VisStroke
	}
	return v, nil
}

// boxOverlay is a detection's box and label, in its class colour.
func boxOverlay(m *model.Spec, p *odPrediction) vision.Overlay {
	return vision.Overlay{
		Box:   [4]float64{p.X - p.Width/2, p.Y - p.Height/2, p.X + p.Width/2, p.Y + p.Height/2},
		Color: vision.ClassColor(m.Colors, p.Class, p.ClassID),
		Label: fmt.Sprintf("%s %.2f", p.Class, p.Confidence),
	}
}

// classOverlay labels a classification: one tab per class, stacked from
// the top-left corner.
func classOverlay(m *model.Spec, ids []int, labels []string) []vision.Overlay {
	var out []vision.Overlay
	for i, id := range ids {
		out = append(out, vision.Overlay{
			Box:   [4]float64{0, float64(16 * (i + 1)), 0, float64(16 * (i + 1))},
			Color: vision.ClassColor(m.Colors, m.ClassName(id), id),
			Label: labels[i],
		})
	}
	return out
}

// visualize draws the overlays on the request's image when it asked for
// a drawing, returns it as base64 JPEG (or keeps the JPEG for
// format=image) and releases the image. Classification labels are always
// drawn: they are the whole drawing.
func (w *imageWork) visualize(overlays []vision.Overlay) (string, error) {
	v := w.ir.vis
	if v == nil || w.img == nil {
		return "", nil
	}
	defer func() { w.img.Release(); w.img = nil }()
	labels := v.labels || w.ir.model.Spec.Task == model.Classification
	data, err := vision.EncodeJPEG(vision.Draw(w.img, overlays, v.stroke, labels))
	if err != nil {
		return "", err
	}
	if v.image {
		w.jpeg = data
		return "", nil
	}
	return base64.StdEncoding.EncodeToString(data), nil
}
