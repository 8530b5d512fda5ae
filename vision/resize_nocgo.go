//go:build !cgo

package vision

// ResizeKernel names the letterbox resize compiled in: the C kernel with
// cgo (resize_cgo.go), this pure-Go one without. Both are OpenCV's
// arithmetic, bit for bit.
const ResizeKernel = "go"

func letterbox8(img *Image, g Geometry, lut *[3][256]float32, dst []float32) {
	letterboxGo(img, g, lut, dst)
}
