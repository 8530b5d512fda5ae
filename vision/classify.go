package vision

import (
	"math"
	"sort"
	"strconv"
)

// SoftmaxNumPy writes softmax(x) to dst computed as Roboflow's
// inference-core does it in NumPy on float32: e = exp(x - max(x)), then
// e / e.sum(), with NumPy's pairwise summation, so scores agree to the last
// bits and thresholds cut where Roboflow's do.
func SoftmaxNumPy(x, dst []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	for i, v := range x {
		dst[i] = float32(math.Exp(float64(v - m)))
	}
	sum := pairwiseSum(dst[:len(x)])
	for i := range x {
		dst[i] /= sum
	}
}

// pairwiseSum is NumPy's float32 add.reduce over a contiguous array
// (numpy/core/src/umath/loops_utils.h.src pairwise_sum): blocks of up to
// 128 summed in eight interleaved float32 accumulators, halves above that.
func pairwiseSum(a []float32) float32 {
	n := len(a)
	switch {
	case n < 8:
		var res float32 // NumPy starts from -0.0; the same for any sum here
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		var r [8]float32
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		res := (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
}

// RoundPython is Python's round(x, places): the double nearest to x
// rounded half-to-even at the given decimal place, decided on x's exact
// binary value (strconv formats exactly, as Python's repr does).
func RoundPython(x float64, places int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', places, 64), 64)
	return v
}

// ClassScore is one class of a classification answer.
type ClassScore struct {
	ClassID    int
	Confidence float64
}

// Classify is inference-core's single-label postprocess: softmax (applied
// even when the model already ends in one, as Roboflow does), classes
// scoring at least conf, confidences rounded to 4 decimals, sorted by that
// rounded confidence, ties in class order.
func Classify(out []float32, conf float64) []ClassScore {
	p := make([]float32, len(out))
	SoftmaxNumPy(out, p)
	var res []ClassScore
	for i, v := range p {
		score := float64(v)
		if score < conf {
			continue
		}
		res = append(res, ClassScore{i, RoundPython(score, 4)})
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].Confidence > res[j].Confidence })
	return res
}

// MultiLabel is inference-core's multi-label postprocess: raw scores, and
// the classes scoring above conf (strictly).
func MultiLabel(out []float32, conf float64) (scores []float64, predicted []int) {
	scores = make([]float64, len(out))
	for i, v := range out {
		scores[i] = float64(v)
		if scores[i] > conf {
			predicted = append(predicted, i)
		}
	}
	return scores, predicted
}
