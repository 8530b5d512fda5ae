//go:build cgo

package vision

func init() {
	letterboxKernels["c-simd"] = func(img *Image, g Geometry, lut *[3][256]float32, dst []float32) {
		letterboxC(img, g, lut, dst, true)
	}
	letterboxKernels["c-scalar"] = func(img *Image, g Geometry, lut *[3][256]float32, dst []float32) {
		letterboxC(img, g, lut, dst, false)
	}
}
