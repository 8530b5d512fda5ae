// Package vision turns encoded images into model input tensors and model
// outputs into predictions: decoding of what OpenCV's cv2.imdecode reads
// (JPEG through libjpeg-turbo and cgo, with DCT-domain downscaling, or
// image/jpeg when cgo is off; PNG, WebP, BMP, TIFF, PNM, GIF through Go
// decoders, converted as OpenCV converts: decode_*.go), EXIF orientation, Roboflow's resize modes and normalization written straight
// into a caller-owned NCHW float32 slice, YOLO output decoding, NMS and the
// mapping of boxes back to original-image pixels.
//
// Numerics follow Roboflow Inference (inference-core) exactly where clients
// can see them: letterbox geometry, box rescaling and rounding, and NMS with
// its overlap-over-area test. It must not know about HTTP, models on disk or
// scheduling.
//
// Hot loops are C with SSE2 under cgo (resize_cgo.go: the letterbox, the
// table write into the tensor, the padding; kernels_cgo.go: YOLOv8 score
// column maxima, mask logits), each with a pure-Go twin for CGO_ENABLED=0
// and a test that the two agree bit for bit. Where the issue was silent
// (issue 20, "CPU per image"), the rule kept was: no speed-up that changes
// a value a client or a golden sees — so no DCT-domain downscaling by
// default, no fused multiply-adds (fp-contract off), float sums kept in
// the references' order.
package vision
