package cuda

import "testing"

func TestClassOf(t *testing.T) {
	for _, tc := range []struct{ size, class int }{
		{1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {16 << 20, 16 << 20}, {16<<20 + 1, 18 << 20}, {100 << 20, 100 << 20}, {100<<20 + 1, 102 << 20},
	} {
		if got := classOf(tc.size); got != tc.class {
			t.Errorf("classOf(%d) = %d, want %d", tc.size, got, tc.class)
		}
	}
}
