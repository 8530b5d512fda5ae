package vision

import "math"

// ContrastStretch is inference-core's "Contrast Stretching":
// skimage.exposure.rescale_intensity with in_range = NumPy's 2nd and 98th
// percentiles (linear) over every channel value, computed in float64 and
// truncated back to uint8.
func ContrastStretch(img *Image) {
	var hist [256]int
	for _, v := range img.Pix {
		hist[v]++
	}
	lo, hi := percentile(&hist, len(img.Pix), 0.02), percentile(&hist, len(img.Pix), 0.98)
	var lut [256]uint8
	for v := range lut {
		x := math.Min(math.Max(float64(v), lo), hi)
		if lo != hi {
			lut[v] = uint8((x - lo) / (hi - lo) * 255)
		} else {
			lut[v] = uint8(math.Min(math.Max(x, 0), 255))
		}
	}
	for i, v := range img.Pix {
		img.Pix[i] = lut[v]
	}
}

// percentile is np.percentile(values, q*100) with the default linear
// method, for n uint8 values given by their histogram.
func percentile(hist *[256]int, n int, q float64) float64 {
	virtual := (float64(n)*q + (1 - q)) - 1 // NumPy's _compute_virtual_index, alpha = beta = 1
	i := math.Floor(virtual)
	t := virtual - i
	at := func(k int) float64 { // the k-th smallest value
		k = min(max(k, 0), n-1)
		for v, c := range hist {
			if k < c {
				return float64(v)
			}
			k -= c
		}
		return 255
	}
	a, b := at(int(i)), at(int(i)+1)
	d := b - a
	if t >= 0.5 { // NumPy's _lerp, exact at both ends
		return b - d*(1-t)
	}
	return a + d*t
}

// EqualizeHist is inference-core's "Histogram Equalization": OpenCV's
// BGR2GRAY, equalizeHist (cumulative-histogram LUT scaled by
// 255 / (total - first non-empty bin), rounded half to even), GRAY2BGR.
func EqualizeHist(img *Image) {
	Gray(img)
	var hist [256]int
	total := len(img.Pix) / 3
	for i := 0; i < len(img.Pix); i += 3 {
		hist[img.Pix[i]]++
	}
	i := 0
	for i < 255 && hist[i] == 0 {
		i++
	}
	var lut [256]uint8
	if hist[i] == total {
		for k := range lut {
			lut[k] = uint8(i)
		}
	} else {
		scale := float32(255) / float32(total-hist[i])
		sum := 0
		lut[i] = 0
		for i++; i < 256; i++ {
			sum += hist[i]
			lut[i] = uint8(min(max(math.RoundToEven(float64(float32(sum)*scale)), 0), 255))
		}
	}
	for k, v := range img.Pix {
		img.Pix[k] = lut[v]
	}
}

// AdaptiveEqualize is inference-core's "Adaptive Equalization": OpenCV's
// BGR2GRAY, CLAHE with clipLimit 0.03 on 8x8 tiles (OpenCV's clahe.cpp:
// reflect-101 padding to whole tiles, clipped histograms with the excess
// spread evenly then by residual steps, per-tile LUTs, bilinear
// interpolation between tile centres in float), GRAY2BGR.
func AdaptiveEqualize(img *Image) {
	Gray(img)
	const tiles, bins = 8, 256
	w, h := img.W, img.H
	at := func(x, y int) uint8 { return img.Pix[(y*w+x)*3] }
	// Reflect-101 extension to whole tiles (bottom and right only).
	ew, eh := w, h
	if w%tiles != 0 || h%tiles != 0 {
		ew, eh = w+tiles-w%tiles, h+tiles-h%tiles
	}
	reflect := func(i, n int) int {
		if i >= n {
			return 2*(n-1) - i
		}
		return i
	}
	tw, th := ew/tiles, eh/tiles
	total := tw * th
	lutScale := float32(bins-1) / float32(total)
	clip := max(int(0.03*float64(total)/bins), 1)
	var luts [tiles * tiles][bins]uint8
	for ty := 0; ty < tiles; ty++ {
		for tx := 0; tx < tiles; tx++ {
			var hist [bins]int
			for y := ty * th; y < (ty+1)*th; y++ {
				for x := tx * tw; x < (tx+1)*tw; x++ {
					hist[at(reflect(x, w), reflect(y, h))]++
				}
			}
			clipped := 0
			for i := range hist {
				if hist[i] > clip {
					clipped += hist[i] - clip
					hist[i] = clip
				}
			}
			batch := clipped / bins
			residual := clipped - batch*bins
			for i := range hist {
				hist[i] += batch
			}
			if residual != 0 {
				step := max(bins/residual, 1)
				for i := 0; i < bins && residual > 0; i, residual = i+step, residual-1 {
					hist[i]++
				}
			}
			sum := 0
			for i := range hist {
				sum += hist[i]
				luts[ty*tiles+tx][i] = uint8(min(max(math.RoundToEven(float64(float32(sum)*lutScale)), 0), 255))
			}
		}
	}
	invW, invH := 1/float32(tw), 1/float32(th)
	// Column taps are the same on every row: computed once, as OpenCV does.
	tx1s, tx2s, xas := make([]int, w), make([]int, w), make([]float32, w)
	for x := range w {
		tx1s[x], tx2s[x], xas[x] = claheTap(x, invW, tiles)
	}
	out := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		ty1, ty2, ya := claheTap(y, invH, tiles)
		ya1 := 1 - ya
		for x := 0; x < w; x++ {
			tx1, tx2, xa := tx1s[x], tx2s[x], xas[x]
			xa1 := 1 - xa
			v := at(x, y)
			r := (float32(luts[ty1*tiles+tx1][v])*xa1+float32(luts[ty1*tiles+tx2][v])*xa)*ya1 +
				(float32(luts[ty2*tiles+tx1][v])*xa1+float32(luts[ty2*tiles+tx2][v])*xa)*ya
			out[y*w+x] = uint8(min(max(math.RoundToEven(float64(r)), 0), 255))
		}
	}
	for i, v := range out {
		img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2] = v, v, v
	}
}

// claheTap is OpenCV's CLAHE interpolation between tile centres for pixel
// pos: the two tiles (clamped) and the weight of the second, in float.
func claheTap(pos int, inv float32, tiles int) (t1, t2 int, a float32) {
	f := float32(pos)*inv - 0.5
	t1 = int(math.Floor(float64(f)))
	a = f - float32(t1)
	return max(t1, 0), min(t1+1, tiles-1), a
}
