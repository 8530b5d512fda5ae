package repository

import "github.com/trtserve/trtserve/model"

// The end-to-end families: exports whose graph ends in top-k rows (x1, y1,
// x2, y2, confidence, class, extras) with no NMS to run. inference-core
// 1.8.3 reads YOLOv10's with YOLOv10ObjectDetection (threshold, then the
// first max_detections) and YOLO26's with its YOLO26 classes (threshold
// only), for detection, instance segmentation and keypoints.
var (
	familyYOLOv10 = &Family{Name: "yolov10", Layout: model.LayoutYOLOv10}
	familyYOLO26  = &Family{Name: "yolo26", Layout: model.LayoutYOLO26}
)

func init() {
	addFamily(familyYOLOv10, model.ObjectDetection, sizes("yolov10", "", "s", "n", "b", "m", "l", "x")...)

	addFamily(familyYOLO26, model.ObjectDetection, sizes("yolo26", "", "s", "n", "b", "m", "l", "x")...)
	addFamily(familyYOLO26, model.InstanceSegmentation, sizes("yolo26", "", "n", "s", "m", "l", "x", "n-seg", "s-seg", "m-seg", "l-seg", "x-seg")...)
	addFamily(familyYOLO26, model.KeypointDetection, sizes("yolo26", "", "n", "s", "m", "l", "x", "n-pose", "s-pose", "m-pose", "l-pose", "x-pose")...)
}
