package tasks

import "github.com/trtserve/trtserve/model"

// YOLOv7's layout. Its rows are YOLOv5's ([batch, anchors,
// 5+classes+masks], objectness after the box), but its segmentation export
// (WongKinYiu/yolov7, u7 branch) returns (predictions, (per-level raw
// maps ×3, prototypes)): five outputs, the prototypes last, which is where
// inference-core's YOLOv7InstanceSegmentation reads them (output 4).
func init() {
	registerLayout(model.LayoutYOLOv7, layoutDecoder{check: checkYOLOv5, decode: decodeRows, protos: 4})
}
