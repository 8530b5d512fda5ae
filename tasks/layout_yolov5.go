package tasks

import (
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// YOLOv5's layout: [batch, anchors, 5+classes+extra], a row per anchor
// with an objectness score after the box; a segmentation model's
// prototypes are its second output.
func init() {
	registerLayout(model.LayoutYOLOv5, layoutDecoder{check: checkYOLOv5, decode: decodeRows, protos: 1})
}

func checkYOLOv5(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	const want = "[batch, anchors, 5+classes] (yolov5 layout)"
	if len(outputs) == 0 || len(outputs[0].Shape) != 3 {
		return layout{}, badOutputs(spec, outputs, "the first output must be %s", want)
	}
	shape := outputs[0].Shape
	return anchorRows(spec, outputs, layout{kind: vision.YOLOv5, anchors: int(shape[1]), width: int(shape[2])}, 5, want)
}
