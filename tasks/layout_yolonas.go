package tasks

import (
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// YOLO-NAS, as super-gradients exports it for Roboflow, keeps boxes and
// scores apart: output 0 is [batch, anchors, 4] (x1, y1, x2, y2 in
// model-input pixels), output 1 [batch, anchors, classes] (after the
// sigmoid). inference-core 1.8.3's YOLONASObjectDetection reads them by
// position, prepends each anchor's best score and runs Roboflow's NMS on
// the corners as they are (box_format "xyxy"); its boxes then go through
// post_process_bboxes like YOLOv8's, so the rescale is vision.Rescale's.

func init() {
	registerLayout(model.LayoutYOLONAS, layoutDecoder{check: checkYOLONAS, decode: decodeYOLONAS})
}

const yolonasWant = "boxes [batch, anchors, 4] then scores [batch, anchors, classes] (YOLO-NAS layout)"

// checkYOLONAS reads the two outputs' geometry: anchors from both, the
// classes from the scores. A model naming more classes than it scores
// cannot be served; one naming fewer leaves the extra scores unnamed, as
// inference-core does (their class is its number).
func checkYOLONAS(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	if len(outputs) != 2 || len(outputs[0].Shape) != 3 || len(outputs[1].Shape) != 3 {
		return layout{}, badOutputs(spec, outputs, "must output %s", yolonasWant)
	}
	b, s := outputs[0].Shape, outputs[1].Shape
	if b[2] != 4 || b[1] <= 0 || s[1] != b[1] || s[2] <= 0 {
		return layout{}, badOutputs(spec, outputs, "must output %s, the same anchors in both", yolonasWant)
	}
	l := layout{anchors: int(b[1]), nc: int(s[2])}
	l.width = 4 + l.nc
	if n := len(spec.ClassNames); n > l.nc {
		return layout{}, badOutputs(spec, outputs, "the model names %d classes but scores %d", n, l.nc)
	}
	return l, nil
}

func decodeYOLONAS(_ *model.Spec, l layout, out [][]float32, nms vision.NMSOptions) ([]vision.Detection, error) {
	return vision.DecodeXYXY(out[0], out[1], l.anchors, l.nc, nms)
}
