// Package vision turns encoded images into model input tensors and model
// outputs into predictions: JPEG/PNG decoding (libjpeg-turbo through cgo,
// with DCT-domain downscaling; image/jpeg when cgo is off), EXIF
// orientation, Roboflow's resize modes and normalization written straight
// into a caller-owned NCHW float32 slice, YOLO output decoding, NMS and the
// mapping of boxes back to original-image pixels.
//
// Numerics follow Roboflow Inference (inference-core) exactly where clients
// can see them: letterbox geometry, box rescaling and rounding, and NMS with
// its overlap-over-area test. It must not know about HTTP, models on disk or
// scheduling.
package vision
