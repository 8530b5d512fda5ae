package engines

import "testing"

func TestElemsPerItem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int64
		want  int
	}{
		{"scalar", nil, -1}, // used to panic slicing shape[1:]
		{"batch only", []int64{-1}, 1},
		{"vector per item", []int64{-1, 1000}, 1000},
		{"image", []int64{4, 3, 64, 32}, 3 * 64 * 32},
		{"dynamic inner dimension", []int64{-1, 84, -1}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (TensorInfo{Name: "x", DataType: FP32, Shape: tc.shape}).ElemsPerItem(); got != tc.want {
				t.Fatalf("ElemsPerItem(%v) = %d, want %d", tc.shape, got, tc.want)
			}
		})
	}
}
