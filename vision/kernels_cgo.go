//go:build cgo

package vision

/*
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// colMax sets best[a] to the largest value of column a of the rows x n
// row-major block out, as a scalar "if v > best" scan in row order would.
func colMax(out []float32, rows, n int, best []float32) {
	if rows <= 0 || n <= 0 {
		return
	}
	_, _ = out[rows*n-1], best[n-1]
	C.trt_colmax((*C.float)(unsafe.Pointer(&out[0])), C.int(rows), C.int(n), (*C.float)(unsafe.Pointer(&best[0])))
}
