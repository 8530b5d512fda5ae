package tasks

import (
	"strconv"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// Keypoints is keypoint detection (pose): detection boxes whose extra
// values are (x, y, confidence) for each of the model's keypoints.
type Keypoints struct{}

func init() { register(model.KeypointDetection, Keypoints{}) }

// KeypointOptions are a keypoint request's knobs: detection's, and the
// confidence a keypoint needs to be reported.
type KeypointOptions struct {
	DetectOptions
	Confidence float64
}

// Pose is one detected object with its keypoints, in image pixels.
type Pose struct {
	Box
	Keypoints []Keypoint
}

// Keypoint is one named keypoint of a Pose.
type Keypoint struct {
	X, Y, Confidence float64
	ClassID          int
	Class            string
}

// Validate checks the detection output has room, after each anchor's
// classes, for the (x, y, confidence) of every keypoint the model names.
func (Keypoints) Validate(spec *model.Spec, outputs []model.TensorInfo) error {
	l, err := detectionLayout(spec, outputs)
	if err != nil {
		return err
	}
	if n := len(spec.KeypointNames); l.extra < 3*n {
		return badOutputs(spec, outputs, "each anchor has %d values after its %d classes, the %d keypoints need %d (x, y, confidence each)", l.extra, l.nc, n, 3*n)
	}
	return nil
}

// Postprocess decodes one image's poses, most confident first, with the
// keypoints at or above the options' confidence.
func (Keypoints) Postprocess(spec *model.Spec, outputs []model.TensorInfo, out [][]float32, f *Frame, o KeypointOptions) ([]Pose, error) {
	dets, err := decode(spec, outputs, out, o.NMS)
	if err != nil {
		return nil, err
	}
	poses := make([]Pose, 0, len(dets))
	for _, d := range dets {
		kps := vision.Keypoints(d, len(spec.KeypointNames), f.Geo, f.CropX, f.CropY)
		scaled := []vision.Detection{d}
		rescale(spec, scaled, f)
		p := Pose{Box: box(spec, scaled[0]), Keypoints: make([]Keypoint, 0, len(kps))}
		if !o.keep(p.Class) {
			continue
		}
		for _, k := range kps {
			if k.Confidence >= o.Confidence {
				p.Keypoints = append(p.Keypoints, Keypoint{k.X, k.Y, k.Confidence, k.ID, keypointName(spec, k.ID)})
			}
		}
		poses = append(poses, p)
	}
	return poses, nil
}

func keypointName(spec *model.Spec, id int) string {
	if id >= 0 && id < len(spec.KeypointNames) {
		return spec.KeypointNames[id]
	}
	return strconv.Itoa(id)
}

// Overlays are the boxes with their labels and keypoint dots.
func (Keypoints) Overlays(spec *model.Spec, poses []Pose) []vision.Overlay {
	out := make([]vision.Overlay, len(poses))
	for i, p := range poses {
		out[i] = boxOverlay(spec, p.Box)
		for _, k := range p.Keypoints {
			out[i].Keypoints = append(out[i].Keypoints, vision.Point{X: k.X, Y: k.Y})
		}
	}
	return out
}
