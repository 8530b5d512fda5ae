//go:build cgo

package vision

/*
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// The letterbox of resize.go in C: the same integer arithmetic (OpenCV's
// 8-bit INTER_LINEAR), from taps computed in Go, written through the
// normalization table into the planar tensor. C because Go's compiler
// runs these loops scalar and spills their registers: the pure-Go kernel
// (letterboxGo) took about 1.5x the time of the float resize it replaces,
// this one with SSE2 well under it (docs/letterbox.md). The pure-Go kernel
// stays as the no-cgo build's; all three paths (SSE2, C scalar, Go) are
// tested against the same goldens.

typedef struct { int32_t o0, o1, w0, w1; } trt_xtap;

// OpenCV's vertical pass for 8 bits; the result is at most 255 (the
// weights of a pair sum to at most 2049), so the cast does not wrap.
static inline uint8_t trt_vpass1(int32_t s0, int32_t s1, int32_t b0, int32_t b1) {
	return (uint8_t)((((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2);
}

// Horizontal pass over one source row: 3 int32 per output pixel. nvec is
// how many leading taps may read 4 bytes at both offsets (the SSE2 path
// reads one byte past each pixel); d holds one int32 of slack.
static void trt_hpass(int32_t *restrict d, const uint8_t *restrict s, const trt_xtap *restrict t, int n, int nvec) {
	int i = 0;
#if defined(__SSE2__)
	const __m128i z = _mm_setzero_si128();
	for (; i < nvec; i++) {
		uint32_t a, b;
		memcpy(&a, s + t[i].o0, 4);
		memcpy(&b, s + t[i].o1, 4);
		// p0 q0 p1 q1 p2 q2 . . as int16, times w0 w1 pairwise: the
		// exact int32 sums of OpenCV's v_dotprod (the 4th is
		// overwritten by the next pixel).
		__m128i v = _mm_unpacklo_epi8(_mm_unpacklo_epi8(_mm_cvtsi32_si128((int)a), _mm_cvtsi32_si128((int)b)), z);
		__m128i w = _mm_set1_epi32((int)(((uint32_t)t[i].w1 << 16) | (uint32_t)t[i].w0));
		_mm_storeu_si128((__m128i *)(d + 3 * i), _mm_madd_epi16(v, w));
	}
#else
	(void)nvec;
#endif
	for (; i < n; i++) {
		const uint8_t *p = s + t[i].o0, *q = s + t[i].o1;
		int32_t a = t[i].w0, b = t[i].w1;
		d[3 * i] = p[0] * a + q[0] * b;
		d[3 * i + 1] = p[1] * a + q[1] * b;
		d[3 * i + 2] = p[2] * a + q[2] * b;
	}
}

// Vertical pass: n bytes from two horizontally resized rows. With SSE2 it
// is OpenCV's own SIMD (VResizeLinearVec_32s8u at 128 bits: >>4, pack,
// mulhi, saturating add, +2 >>2, packus), whose scalar tail trt_vpass1
// equals lane by lane.
static void trt_vpass(uint8_t *restrict out, const int32_t *restrict h0, const int32_t *restrict h1, int n,
                      int32_t b0, int32_t b1, int simd) {
	int i = 0;
#if defined(__SSE2__)
	if (simd) {
		const __m128i vb0 = _mm_set1_epi16((short)b0), vb1 = _mm_set1_epi16((short)b1), two = _mm_set1_epi16(2);
		for (; i + 8 <= n; i += 8) {
			__m128i a = _mm_packs_epi32(_mm_srai_epi32(_mm_loadu_si128((const __m128i *)(h0 + i)), 4),
			                            _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(h0 + i + 4)), 4));
			__m128i c = _mm_packs_epi32(_mm_srai_epi32(_mm_loadu_si128((const __m128i *)(h1 + i)), 4),
			                            _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(h1 + i + 4)), 4));
			__m128i r = _mm_adds_epi16(_mm_mulhi_epi16(a, vb0), _mm_mulhi_epi16(c, vb1));
			r = _mm_srai_epi16(_mm_add_epi16(r, two), 2);
			_mm_storel_epi64((__m128i *)(out + i), _mm_packus_epi16(r, r));
		}
	}
#else
	(void)simd;
#endif
	for (; i < n; i++)
		out[i] = trt_vpass1(h0[i], h1[i], b0, b1);
}

// One row of packed RGB through the normalization table into the three
// planes. With SSE2, four values per plane are gathered into a register
// and stored at once: half the CPU time of one store per value (measured
// with a cold 640x640 tensor, thread CPU time: 0.80 ms vs 1.72 ms).
static void trt_emit(const uint8_t *restrict row, int n, const float *restrict lut,
                     float *restrict r, float *restrict g, float *restrict b) {
	const float *lr = lut, *lg = lut + 256, *lb = lut + 512;
	int x = 0;
#if defined(__SSE2__)
	for (; x + 4 <= n; x += 4) {
		const uint8_t *p = row + 3 * x;
		_mm_storeu_ps(r + x, _mm_setr_ps(lr[p[0]], lr[p[3]], lr[p[6]], lr[p[9]]));
		_mm_storeu_ps(g + x, _mm_setr_ps(lg[p[1]], lg[p[4]], lg[p[7]], lg[p[10]]));
		_mm_storeu_ps(b + x, _mm_setr_ps(lb[p[2]], lb[p[5]], lb[p[8]], lb[p[11]]));
	}
#endif
	for (; x < n; x++) {
		r[x] = lr[row[3 * x]];
		g[x] = lg[row[3 * x + 1]];
		b[x] = lb[row[3 * x + 2]];
	}
}

// The scale-1 path of ToTensor: h rows of packed RGB (stride bytes apart)
// into the planes, rows inW floats apart.
static void trt_emit_planes(const uint8_t *restrict src, int w, int h, size_t stride, const float *restrict lut,
                            float *r, float *g, float *b, int inW) {
	for (int y = 0; y < h; y++) {
		size_t o = (size_t)y * inW;
		trt_emit(src + (size_t)y * stride, w, lut, r + o, g + o, b + o);
	}
}

// Fills n floats with v (the letterbox's padding bands). Plain stores:
// non-temporal ones were measured slower here (the engine's copy then
// reads the tensor from memory instead of the cache).
static void trt_fill(float *p, size_t n, float v) {
	size_t i = 0;
#if defined(__SSE2__)
	__m128 vv = _mm_set1_ps(v);
	for (; i + 4 <= n; i += 4)
		_mm_storeu_ps(p + i, vv);
#endif
	for (; i < n; i++)
		p[i] = v;
}

// A row of point samples: every horizontal tap has weights (2048, 0) and
// the row's vertical weights are (2048, 0) too, so OpenCV's arithmetic
// gives the source pixel itself: hpass p*2048, then
// ((2048*((p*2048)>>4))>>16 + 0 + 2)>>2 = (4p + 2)>>2 = p. An exact 3x
// downscale (1920x1080 into 640) is all such rows.
static void trt_gather_emit(const uint8_t *restrict row, const trt_xtap *restrict t, int n, const float *restrict lut,
                            float *restrict r, float *restrict g, float *restrict b) {
	const float *lr = lut, *lg = lut + 256, *lb = lut + 512;
	int x = 0;
#if defined(__SSE2__)
	for (; x + 4 <= n; x += 4) {
		const uint8_t *p0 = row + t[x].o0, *p1 = row + t[x + 1].o0, *p2 = row + t[x + 2].o0, *p3 = row + t[x + 3].o0;
		_mm_storeu_ps(r + x, _mm_setr_ps(lr[p0[0]], lr[p1[0]], lr[p2[0]], lr[p3[0]]));
		_mm_storeu_ps(g + x, _mm_setr_ps(lg[p0[1]], lg[p1[1]], lg[p2[1]], lg[p3[1]]));
		_mm_storeu_ps(b + x, _mm_setr_ps(lb[p0[2]], lb[p1[2]], lb[p2[2]], lb[p3[2]]));
	}
#endif
	for (; x < n; x++) {
		const uint8_t *p = row + t[x].o0;
		r[x] = lr[p[0]];
		g[x] = lg[p[1]];
		b[x] = lb[p[2]];
	}
}

// halve: the source is exactly 2nw x 2nh (OpenCV's INTER_AREA fast path);
// the taps are then unused. rows holds 2 x (3*nw+4) int32, out 3*nw bytes.
// simd 0 forces the scalar code (tests check both).
static void trt_letterbox8(const uint8_t *src, int sw, int nw, int nh, int halve, int simd, int pointx,
                           const trt_xtap *xt, int nvec, const int32_t *ys0, const int32_t *ys1,
                           const int32_t *yw0, const int32_t *yw1, const float *lut,
                           float *dst, int inW, int inH, int padX, int padY,
                           int32_t *rows, uint8_t *out) {
	size_t stride = (size_t)sw * 3, plane = (size_t)inW * inH;
	int32_t *buf[2] = {rows, rows + 3 * (size_t)nw + 4};
	int have[2] = {-1, -1};
	if (!simd)
		nvec = 0;
	for (int y = 0; y < nh; y++) {
		float *r = dst + (size_t)(y + padY) * inW + padX;
		if (halve) {
			const uint8_t *a = src + (size_t)(2 * y) * stride, *b = a + stride;
			// The two rows' sums first (16 bytes at a time with SSE2),
			// then each pair of pixels: the same integer sum as
			// a[j] + a[j+3] + b[j] + b[j+3], in another order.
			uint16_t *t = (uint16_t *)rows; // 6*nw of them fit in rows
			int n = 6 * nw, j = 0;
#if defined(__SSE2__)
			if (simd) {
				const __m128i z = _mm_setzero_si128();
				for (; j + 16 <= n; j += 16) {
					__m128i va = _mm_loadu_si128((const __m128i *)(a + j)), vb = _mm_loadu_si128((const __m128i *)(b + j));
					_mm_storeu_si128((__m128i *)(t + j), _mm_add_epi16(_mm_unpacklo_epi8(va, z), _mm_unpacklo_epi8(vb, z)));
					_mm_storeu_si128((__m128i *)(t + j + 8), _mm_add_epi16(_mm_unpackhi_epi8(va, z), _mm_unpackhi_epi8(vb, z)));
				}
			}
#endif
			for (; j < n; j++)
				t[j] = (uint16_t)(a[j] + b[j]);
			for (int i = 0; i < nw; i++) {
				const uint16_t *q = t + 6 * i;
				out[3 * i] = (uint8_t)((q[0] + q[3] + 2) >> 2);
				out[3 * i + 1] = (uint8_t)((q[1] + q[4] + 2) >> 2);
				out[3 * i + 2] = (uint8_t)((q[2] + q[5] + 2) >> 2);
			}
			trt_emit(out, nw, lut, r, r + plane, r + 2 * plane);
			continue;
		}
		// OpenCV keeps the two horizontally resized rows of the last
		// output row and recomputes only what the next one lacks.
		int r0 = ys0[y], r1 = ys1[y];
		if (pointx && simd && yw1[y] == 0 && yw0[y] == 2048) {
			trt_gather_emit(src + (size_t)r0 * stride, xt, nw, lut, r, r + plane, r + 2 * plane);
			continue;
		}
		// A row of weight 0 adds (0 * (S >> 4)) >> 16 = 0 whatever its
		// sums: do not resize it (an exact 3x downscale, 1080p into
		// 640, has one in every output row).
		if (yw1[y] == 0)
			r1 = r0;
		int k0 = have[0] == r0 ? 0 : have[1] == r0 ? 1 : -1;
		int k1 = have[0] == r1 ? 0 : have[1] == r1 ? 1 : -1;
		if (k0 < 0) {
			k0 = k1 == 0 ? 1 : 0;
			trt_hpass(buf[k0], src + (size_t)r0 * stride, xt, nw, nvec);
			have[k0] = r0;
			if (r1 == r0)
				k1 = k0;
		}
		if (k1 < 0) {
			k1 = 1 - k0;
			trt_hpass(buf[k1], src + (size_t)r1 * stride, xt, nw, nvec);
			have[k1] = r1;
		}
		trt_vpass(out, buf[k0], buf[k1], 3 * nw, yw0[y], yw1[y], simd);
		trt_emit(out, nw, lut, r, r + plane, r + 2 * plane);
	}
}
*/
import "C"

import "unsafe"

// ResizeKernel names the letterbox resize compiled in: this C kernel with
// cgo, the pure-Go one (resize.go) without. Both are OpenCV's arithmetic,
// bit for bit.
const ResizeKernel = "c"

// letterbox8 is letterboxGo through the C kernel: one cgo call per image.
func letterbox8(img *Image, g Geometry, lut *[3][256]float32, dst []float32) {
	letterboxC(img, g, lut, dst, true)
}

// letterboxC runs the C kernel, with SSE2 where the compiler targets it
// (always on amd64) or, simd false, its scalar code.
func letterboxC(img *Image, g Geometry, lut *[3][256]float32, dst []float32, simd bool) {
	nw, nh := g.NW, g.NH
	sc := scratchPool.Get().(*resizeScratch)
	defer scratchPool.Put(sc)
	sc.rows[0] = grow32(sc.rows[0], 2*(3*nw+4)) // both C row buffers, with slack
	if cap(sc.out) < nw*3 {
		sc.out = make([]byte, nw*3)
	}
	halve := img.W == 2*nw && img.H == 2*nh
	var xt *C.trt_xtap
	var ys0, ys1, yw0, yw1 *C.int32_t
	nvec, pointx := 0, true
	if !halve {
		sc.setTaps(img.W, img.H, nw, nh)
		xt = (*C.trt_xtap)(unsafe.Pointer(&sc.xtaps[0]))
		ys0, ys1 = (*C.int32_t)(unsafe.Pointer(&sc.y.s0[0])), (*C.int32_t)(unsafe.Pointer(&sc.y.s1[0]))
		yw0, yw1 = (*C.int32_t)(unsafe.Pointer(&sc.y.w0[0])), (*C.int32_t)(unsafe.Pointer(&sc.y.w1[0]))
		// The SSE2 pass reads 4 bytes at each offset: only where that
		// stays inside the row (offsets only grow along it).
		for nvec < nw && int(max(sc.xtaps[nvec].o0, sc.xtaps[nvec].o1))+4 <= 3*img.W {
			nvec++
		}
		// Every horizontal tap a point sample: rows whose vertical
		// weights are too are copied through the table (trt_gather_emit).
		for _, t := range sc.xtaps {
			if t.w0 != resizeCoefScale || t.w1 != 0 {
				pointx = false
				break
			}
		}
	}
	C.trt_letterbox8((*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(img.W), C.int(nw), C.int(nh),
		C.int(b2i(halve)), C.int(b2i(simd)), C.int(b2i(pointx)), xt, C.int(nvec), ys0, ys1, yw0, yw1,
		(*C.float)(unsafe.Pointer(&lut[0][0])), (*C.float)(unsafe.Pointer(&dst[0])),
		C.int(g.InW), C.int(g.InH), C.int(g.PadX), C.int(g.PadY),
		(*C.int32_t)(unsafe.Pointer(&sc.rows[0][0])), (*C.uint8_t)(unsafe.Pointer(&sc.out[0])))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

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

// fillPad sets every value of p to v (the letterbox's padding).
func fillPad(p []float32, v float32) {
	if len(p) > 0 {
		C.trt_fill((*C.float)(unsafe.Pointer(&p[0])), C.size_t(len(p)), C.float(v))
	}
}
