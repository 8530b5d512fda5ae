//go:build cgo

package vision

/*
// No fused multiply-adds, whatever CGO_CFLAGS target: the Go and Python
// references round the product before the sum.
#pragma GCC optimize("fp-contract=off")
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

// Mask logits: acc (rows x n, rows lda floats apart) += k[c] * the
// prototype plane c's block (rows pstride floats apart, planes plane
// floats apart), coefficient after coefficient. Each lane is a float32
// multiply then a float32 add, as the scalar loop (no fused multiply-add:
// SSE2 has none and -O2 does not contract across intrinsics).
static void trt_proto_dot(float *restrict acc, int rows, int n, size_t lda, const float *restrict proto,
                          size_t pstride, size_t plane, const float *restrict k, int nc) {
	for (int y = 0; y < rows; y++) {
		float *a = acc + (size_t)y * lda;
		for (int c = 0; c < nc; c++) {
			const float *p = proto + (size_t)c * plane + (size_t)y * pstride;
			float kc = k[c];
			int i = 0;
#if defined(__SSE2__)
			__m128 kv = _mm_set1_ps(kc);
			for (; i + 4 <= n; i += 4)
				_mm_storeu_ps(a + i, _mm_add_ps(_mm_loadu_ps(a + i), _mm_mul_ps(kv, _mm_loadu_ps(p + i))));
#endif
			for (; i < n; i++) {
				float m = kc * p[i];
				a[i] = a[i] + m;
			}
		}
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

// protoDot adds, to the rows x n block of acc (rows lda apart), the sum
// over c of k[c] times plane c of proto's block (rows pstride apart,
// planes plane apart), in coefficient order per value.
func protoDot(acc []float32, rows, n, lda int, proto []float32, pstride, plane int, k []float32) {
	if rows <= 0 || n <= 0 || len(k) == 0 {
		return
	}
	_, _ = acc[(rows-1)*lda+n-1], proto[(len(k)-1)*plane+(rows-1)*pstride+n-1]
	C.trt_proto_dot((*C.float)(unsafe.Pointer(&acc[0])), C.int(rows), C.int(n), C.size_t(lda),
		(*C.float)(unsafe.Pointer(&proto[0])), C.size_t(pstride), C.size_t(plane), (*C.float)(unsafe.Pointer(&k[0])), C.int(len(k)))
}
