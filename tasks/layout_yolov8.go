package tasks

import (
	"github.com/trtserve/trtserve/model"
	"github.com/trtserve/trtserve/vision"
)

// YOLOv8's layout, shared by every Ultralytics anchor-free head that
// inference-core reads as YOLOv8 (YOLOv9, YOLO11, YOLOv12): [batch,
// 4+classes+extra, anchors], anchors last, class scores with no
// objectness; a segmentation model's prototypes are its second output.
func init() {
	registerLayout(model.LayoutYOLOv8, layoutDecoder{check: checkYOLOv8, decode: decodeRows, protos: 1})
}

func checkYOLOv8(spec *model.Spec, outputs []model.TensorInfo) (layout, error) {
	const want = "[batch, 4+classes, anchors] (yolov8 layout)"
	if len(outputs) == 0 || len(outputs[0].Shape) != 3 {
		return layout{}, badOutputs(spec, outputs, "the first output must be %s", want)
	}
	shape := outputs[0].Shape
	return anchorRows(spec, outputs, layout{kind: vision.YOLOv8, anchors: int(shape[2]), width: int(shape[1])}, 4, want)
}
