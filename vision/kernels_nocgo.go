//go:build !cgo

package vision

// emitPlanes writes a w x h block of packed RGB (rows stride bytes apart)
// through lut into the planes r, g, b (rows inW floats apart).
func emitPlanes(pix []byte, w, h, stride int, lut *[3][256]float32, r, g, b []float32, inW int) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+3*w]
		rr, rg, rb := r[y*inW:y*inW+w], g[y*inW:y*inW+w], b[y*inW:y*inW+w]
		for x := range rr {
			p := row[3*x : 3*x+3]
			rr[x], rg[x], rb[x] = lut[0][p[0]], lut[1][p[1]], lut[2][p[2]]
		}
	}
}

// fillPad sets every value of p to v (the letterbox's padding).
func fillPad(p []float32, v float32) { fill(p, v) }

// colMax sets best[a] to the largest value of column a of the rows x n
// row-major block out, as a scalar "if v > best" scan in row order would.
func colMax(out []float32, rows, n int, best []float32) {
	copy(best[:n], out[:n])
	for k := 1; k < rows; k++ {
		for a, v := range out[k*n : (k+1)*n] {
			if v > best[a] {
				best[a] = v
			}
		}
	}
}

// protoDot adds, to the rows x n block of acc (rows lda apart), the sum
// over c of k[c] times plane c of proto's block (rows pstride apart,
// planes plane apart), in coefficient order per value.
func protoDot(acc []float32, rows, n, lda int, proto []float32, pstride, plane int, k []float32) {
	for y := 0; y < rows; y++ {
		a := acc[y*lda : y*lda+n]
		for c, kc := range k {
			o := c*plane + y*pstride
			for i, v := range proto[o : o+n] {
				a[i] += kc * v
			}
		}
	}
}
