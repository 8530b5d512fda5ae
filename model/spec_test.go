package model

import "testing"

// TestParseResizeMode pins Roboflow's resize.format vocabulary to what
// inference-core 1.8.3 (models/roboflow.py) serves each value as.
func TestParseResizeMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ResizeMode
	}{
		{"Stretch to", Stretch},
		{"Fit (black edges) in", FitBlack},
		{"Fit (white edges) in", FitWhite},
		{"Fit (grey edges) in", FitGrey},
		{"Fit (reflect edges) in", FitBlack},
		{"Fit within", FitBlack},
		{"Fill (with center crop) in", FitBlack},
		{"letterbox", FitGrey},
		{" fit-white ", FitWhite},
		{"", Stretch},
		{"Something new", Stretch},
	} {
		if got := ParseResizeMode(tc.in); got != tc.want {
			t.Errorf("ParseResizeMode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
