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
