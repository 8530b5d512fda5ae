//go:build cgo

package vision

/*
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Packed RGB rows (stride bytes apart) through the normalization table
// into three planes of a planar tensor, rows inW floats apart. The scale-1
// path of ToTensor: the same lookups as the Go loop it replaces, without
// Go's bounds checks and register spills.
static void trt_emit_planes(const uint8_t *restrict src, int w, int h, size_t stride, const float *restrict lut,
                            float *restrict r, float *restrict g, float *restrict b, int inW) {
	const float *lr = lut, *lg = lut + 256, *lb = lut + 512;
	for (int y = 0; y < h; y++) {
		const uint8_t *p = src + (size_t)y * stride;
		float *rr = r + (size_t)y * inW, *rg = g + (size_t)y * inW, *rb = b + (size_t)y * inW;
		for (int x = 0; x < w; x++) {
			rr[x] = lr[p[3 * x]];
			rg[x] = lg[p[3 * x + 1]];
			rb[x] = lb[p[3 * x + 2]];
		}
	}
}

// Column maxima of a rows x n row-major block: best[a] = the largest of
// out[k*n + a] over k, exactly as the scalar loop "if v > best { best =
// v }" in row order keeps it. MAXPS(v, best) returns v only when v > best
// (a NaN on either side gives its second operand, best), which is that
// comparison lane by lane.
static void trt_colmax(const float *restrict out, int rows, int n, float *restrict best) {
	for (int a = 0; a < n; a++)
		best[a] = out[a];
	for (int k = 1; k < rows; k++) {
		const float *row = out + (size_t)k * n;
		int a = 0;
#if defined(__SSE2__)
		for (; a + 8 <= n; a += 8) {
			__m128 b0 = _mm_loadu_ps(best + a), b1 = _mm_loadu_ps(best + a + 4);
			__m128 v0 = _mm_loadu_ps(row + a), v1 = _mm_loadu_ps(row + a + 4);
			_mm_storeu_ps(best + a, _mm_max_ps(v0, b0));
			_mm_storeu_ps(best + a + 4, _mm_max_ps(v1, b1));
		}
#endif
		for (; a < n; a++)
			if (row[a] > best[a])
				best[a] = row[a];
	}
}
*/
import "C"

import "unsafe"

// emitPlanes writes a w x h block of packed RGB (rows stride bytes apart)
// through lut into the planes r, g, b (rows inW floats apart).
func emitPlanes(pix []byte, w, h, stride int, lut *[3][256]float32, r, g, b []float32, inW int) {
	if w <= 0 || h <= 0 {
		return
	}
	_ = pix[(h-1)*stride+3*w-1]
	_, _, _ = r[(h-1)*inW+w-1], g[(h-1)*inW+w-1], b[(h-1)*inW+w-1]
	C.trt_emit_planes((*C.uint8_t)(unsafe.Pointer(&pix[0])), C.int(w), C.int(h), C.size_t(stride),
		(*C.float)(unsafe.Pointer(&lut[0][0])), (*C.float)(unsafe.Pointer(&r[0])), (*C.float)(unsafe.Pointer(&g[0])),
		(*C.float)(unsafe.Pointer(&b[0])), C.int(inW))
}

// colMax sets best[a] to the largest value of column a of the rows x n
// row-major block out, as a scalar "if v > best" scan in row order would.
func colMax(out []float32, rows, n int, best []float32) {
	if rows <= 0 || n <= 0 {
		return
	}
	_, _ = out[rows*n-1], best[n-1]
	C.trt_colmax((*C.float)(unsafe.Pointer(&out[0])), C.int(rows), C.int(n), (*C.float)(unsafe.Pointer(&best[0])))
}
