package engines

import (
	"testing"

	"github.com/trtserve/trtserve/model"
)

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
			if got := (model.TensorInfo{Name: "x", DataType: model.FP32, Shape: tc.shape}).ElemsPerItem(); got != tc.want {
				t.Fatalf("ElemsPerItem(%v) = %d, want %d", tc.shape, got, tc.want)
			}
		})
	}
}

func TestMmapAllocator(t *testing.T) {
	b, err := MmapAllocator{}.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	f := b.Float32s()
	if len(f) != 250 {
		t.Fatalf("len %d", len(f))
	}
	f[249] = 1.5
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close must be a no-op:", err)
	}
	if _, err := (MmapAllocator{}).Alloc(0); err == nil {
		t.Fatal("zero-size alloc must fail")
	}
}

// TestUltralyticsLayoutFromOutputShape: YOLOv5 exports are told from YOLOv8
// ones by their output shape, with or without a task in the metadata.
