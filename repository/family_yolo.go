package repository

import "github.com/trtserve/trtserve/model"

// The YOLO families whose classes inference-core 1.8.3 builds on YOLOv8's
// or YOLOv5's: their outputs are read as those are, with Roboflow's NMS,
// so they differ only in the model_type names Roboflow gives them. Only
// the (task, model_type) pairs inference-core maps are here; it has no
// YOLOv7 detection, no YOLOv9/YOLOv12 segmentation or pose, and no plain
// "yolov11" for keypoints (only its sized names).
var (
	// YOLOv7InstanceSegmentation: YOLOv5 rows, prototypes as output 4.
	familyYOLOv7 = &Family{Name: "yolov7", Layout: model.LayoutYOLOv7}
	// YOLOv9ObjectDetection: its own predict, the same arithmetic as YOLOv8's.
	familyYOLOv9 = &Family{Name: "yolov9", Layout: model.LayoutYOLOv8}
	// YOLOv11*: subclasses of the YOLOv8 classes with no override.
	familyYOLOv11 = &Family{Name: "yolov11", Layout: model.LayoutYOLOv8}
	// YOLOv12ObjectDetection: a subclass of YOLOv8ObjectDetection.
	familyYOLOv12 = &Family{Name: "yolov12", Layout: model.LayoutYOLOv8}
)

func init() {
	addFamily(familyYOLOv7, model.InstanceSegmentation, "yolov7", "yolov7-seg", "yolov7s-seg")

	addFamily(familyYOLOv9, model.ObjectDetection, "yolov9")

	addFamily(familyYOLOv11, model.ObjectDetection, sizes("yolov11", "", "s", "n", "b", "m", "l", "x")...)
	addFamily(familyYOLOv11, model.InstanceSegmentation, sizes("yolov11", "n", "s", "m", "l", "x", "n-seg", "s-seg", "m-seg", "l-seg", "x-seg")...)
	addFamily(familyYOLOv11, model.KeypointDetection, sizes("yolov11", "n", "s", "m", "l", "x", "n-pose", "s-pose", "m-pose", "l-pose", "x-pose")...)

	addFamily(familyYOLOv12, model.ObjectDetection, sizes("yolov12", "", "s", "n", "m", "l", "x")...)
}
