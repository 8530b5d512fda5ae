package tasks

import (
	"fmt"
	"math"

	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// End-to-end exports (YOLOv10, YOLO26) finish inside the graph: their
// first output is [batch, detections, 6+extra], each row x1, y1, x2, y2
// (model-input pixels), confidence, class index, then the extra values
// (YOLO26-seg: mask coefficients over the prototypes of a second output;
// YOLO26-pose: x, y, confidence per keypoint), rows already ranked by the
// graph's top-k. inference-core 1.8.3 runs no NMS on them; what it does
// differs by family, and each layout here is one of them:
//
//   - YOLOv10ObjectDetection: rows whose confidence is strictly above the
//     threshold, then the first max_detections of them.
//   - YOLO26 (object detection, instance segmentation, keypoints): rows
//     whose confidence is strictly above the threshold, all of them.
//
// Both compare in float32 (the threshold cast to the output's float32) and
// ignore the request's IoU threshold, class-agnostic flag and candidate
// cap: there is nothing left to suppress.

func init() {
	registerLayout(model.LayoutYOLOv10, layoutDecoder{check: checkEndToEnd, decode: decodeCapped, protos: 1, rescale: rescale32})
	registerLayout(model.LayoutYOLO26, layoutDecoder{check: checkEndToEnd, decode: decodeUncapped, protos: 1, rescale: rescale32})
}

// checkEndToEnd is the geometry the tasks read: one row per detection,
// every value after the class an extra (mask coefficients, keypoints).
// The class is an index, not a score per class, so nothing in the shape
// says how many classes there are: nc is the model's class list's length.
func checkEndToEnd(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	rows, width, err := endToEndShape(spec, outputs)
	if err != nil {
		return layout{}, err
	}
	return layout{anchors: rows, width: width, nc: len(spec.ClassNames), extra: width - 6}, nil
}

func decodeCapped(_ *model.Spec, l layout, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	return decodeEndToEnd(out[0], l.anchors, l.width, l.extra, nms, true)
}

func decodeUncapped(_ *model.Spec, l layout, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	return decodeEndToEnd(out[0], l.anchors, l.width, l.extra, nms, false)
}

// endToEndShape reads the first output as [batch, rows, 6+extra]: the
// rows per image (0: as many as the output holds, when the export leaves
// the dimension symbolic) and the values per row. Ultralytics' dynamic
// export of a YOLO26 segmentation model names both dimensions (its
// dynamic axes are the one-to-many output's); its row width is then 6
// plus one mask coefficient per prototype, and a pose model's 6 plus
// three values per keypoint.
func endToEndShape(spec *model.Spec, outputs []model.TensorInfo) (rows, width int, err error) {
	if len(outputs) == 0 || len(outputs[0].Shape) != 3 {
		return 0, 0, badOutputs(spec, outputs, "the first output must be [batch, detections, 6+extra] (end-to-end layout %s: x1, y1, x2, y2, confidence, class)", spec.OutputLayout)
	}
	s := outputs[0].Shape
	rows, width = max(int(s[1]), 0), int(s[2])
	if width <= 0 {
		switch {
		case len(outputs) == 2 && len(outputs[1].Shape) == 4 && outputs[1].Shape[1] > 0:
			width = 6 + int(outputs[1].Shape[1])
		case spec.Task == model.KeypointDetection && len(spec.KeypointNames) > 0:
			width = 6 + 3*len(spec.KeypointNames)
		default:
			return 0, 0, badOutputs(spec, outputs, "the first output's row width is not fixed, and nothing else says it (end-to-end layout %s)", spec.OutputLayout)
		}
	}
	if s[1] == 0 || width < 6 {
		return 0, 0, badOutputs(spec, outputs, "the first output must be [batch, detections, 6+extra] with at least one detection of 6 values (end-to-end layout %s)", spec.OutputLayout)
	}
	return rows, width, nil
}

// decodeEndToEnd is one image's kept rows, in the graph's order, with
// extra values per row after the class (nil when extra is 0). capped
// applies MaxDetections after the threshold, as YOLOv10's class does
// (YOLO26's keeps every row above the threshold).
func decodeEndToEnd(out []float32, rows, width, extra int, o vision.NMSOptions, capped bool) ([]vision.Detection, error) {
	if rows == 0 && len(out)%width == 0 {
		rows = len(out) / width
	}
	if len(out) != rows*width {
		return nil, fmt.Errorf("end-to-end output holds %d values, want %d detections x %d", len(out), rows, width)
	}
	if 6+extra > width {
		return nil, fmt.Errorf("end-to-end rows hold %d values, want 6 + %d", width, extra)
	}
	conf := float32(o.Confidence)
	var dets []vision.Detection
	for r := 0; r < rows; r++ {
		row := out[r*width : (r+1)*width]
		if !(row[4] > conf) { // NaN confidences are dropped, as numpy's > drops them
			continue
		}
		if capped && o.MaxDetections >= 0 && len(dets) == o.MaxDetections {
			break
		}
		d := vision.Detection{X1: row[0], Y1: row[1], X2: row[2], Y2: row[3], Confidence: row[4], ClassID: classIndex(row[5])}
		if extra > 0 {
			d.Extra = row[6 : 6+extra : 6+extra]
		}
		dets = append(dets, d)
	}
	return dets, nil
}

// classIndex is Python's int() of the class column: truncation toward
// zero. A value no class list can hold (NaN, infinite, huge) becomes -1,
// which names no class.
func classIndex(v float32) int {
	if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1<<30 {
		return -1
	}
	return int(v)
}

// rescale32 maps end-to-end boxes from model-input pixels to image pixels
// as inference-core's post_process_bboxes does on them. Its arithmetic is
// vision.Rescale's with one difference that moves boxes by a pixel now
// and then: the rows it gets here are the model's float32 array (after
// NMS they are float64), and numpy keeps float32 arrays in float32 when
// it scales them by a Python float, so every step rounds to float32:
// x·s (stretch), (x − pad)/scale (fit), clip, round half to even, plus
// the static crop's offset.
func rescale32(dets []vision.Detection, g vision.Geometry, cropX, cropY int) {
	ow, oh := float64(g.SrcW), float64(g.SrcH)
	var sx, sy, scale, px, py float32
	fit := g.Mode.IsFit()
	if !fit {
		sx, sy = float32(ow/float64(g.InW)), float32(oh/float64(g.InH))
	} else {
		s := math.Min(float64(g.InH)/oh, float64(g.InW)/ow)
		scale = float32(s)
		px = float32((float64(g.InW) - math.RoundToEven(ow*s)) / 2)
		py = float32((float64(g.InH) - math.RoundToEven(oh*s)) / 2)
	}
	clip := func(v, hi float32) float32 {
		v = float32(math.RoundToEven(float64(max(0, min(v, hi)))))
		return v
	}
	fw, fh := float32(ow), float32(oh)
	for i := range dets {
		d := &dets[i]
		x1, y1, x2, y2 := d.X1, d.Y1, d.X2, d.Y2
		if !fit {
			x1, x2, y1, y2 = float32(x1*sx), float32(x2*sx), float32(y1*sy), float32(y2*sy)
		} else {
			x1, x2 = float32(x1-px)/scale, float32(x2-px)/scale
			y1, y2 = float32(y1-py)/scale, float32(y2-py)/scale
		}
		d.X1 = clip(x1, fw) + float32(cropX)
		d.X2 = clip(x2, fw) + float32(cropX)
		d.Y1 = clip(y1, fh) + float32(cropY)
		d.Y2 = clip(y2, fh) + float32(cropY)
	}
}
