package vision

import "fmt"

// DecodeXYXY reads one image's outputs of a detector that gives boxes and
// class scores apart (YOLO-NAS: boxes [N, 4] as x1, y1, x2, y2 in
// model-input pixels, scores [N, nc]) and returns NMS-filtered detections
// sorted by confidence, exactly as inference-core's YOLONASObjectDetection:
// it concatenates [box, max score, scores] and runs w_np_non_max_suppression
// with box_format "xyxy", so a box is kept when its best class score is at
// or above Confidence, scored by it, and suppressed as DecodeBoxes' are.
// The corners are the model's own float32 values: nothing converts them.
func DecodeXYXY(boxes, scores []float32, anchors, nc int, opts NMSOptions) ([]Detection, error) {
	if nc <= 0 || anchors <= 0 || len(boxes) != anchors*4 || len(scores) != anchors*nc {
		return nil, fmt.Errorf("detection outputs hold %d box and %d score values, want %d anchors x 4 and x %d", len(boxes), len(scores), anchors, nc)
	}
	conf := float32(opts.Confidence)
	pass := func(v float32) bool { return v >= conf && !(opts.TrueIoU && v == conf) }
	var cands []Detection
	for a := 0; a < anchors; a++ {
		row := scores[a*nc : (a+1)*nc]
		best, bestK := row[0], 0
		for k := 1; k < nc; k++ {
			if row[k] > best { // strict: argmax keeps the first maximum
				best, bestK = row[k], k
			}
		}
		if !pass(best) {
			continue
		}
		b := boxes[a*4 : a*4+4]
		cands = append(cands, Detection{X1: b[0], Y1: b[1], X2: b[2], Y2: b[3], Confidence: best, ClassID: bestK})
	}
	return suppressCandidates(cands, opts), nil
}
