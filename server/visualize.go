package server

import (
	"encoding/base64"

	"github.com/trtserve/trtserve/tasks"
)

// visOptions are a request's visualization settings.
type visOptions struct {
	draw tasks.DrawOptions
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
	v := &visOptions{draw: tasks.DrawOptions{Stroke: 1, Labels: isTrue(f.VisLabels)}, image: f.imageFormat}
	if f.VisStroke != nil {
		if *f.VisStroke < 1 || *f.VisStroke > 100 {
			return nil, badRequest("visualization_stroke_width must be between 1 and 100, got %d", *f.VisStroke)
		}
		v.draw.Stroke = *f.VisStroke
	}
	return v, nil
}

// visualization is the drawing as the answer's base64 field, or "" when
// the legacy format=image answers with the JPEG itself (kept in jpeg).
func (w *imageWork) visualization(drawing []byte) string {
	if drawing == nil {
		return ""
	}
	if w.ir.vis.image {
		w.jpeg = drawing
		return ""
	}
	return base64.StdEncoding.EncodeToString(drawing)
}
