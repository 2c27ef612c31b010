package executor

import (
	"math"
	"testing"
)

// TestClipGrad32 checks the branch-free float32 Clip gradient against its definition: the
// incoming gradient strictly inside (lo, hi), +0 on the bounds, outside them and at NaN.
func TestClipGrad32(t *testing.T) {
	nan := float32(math.NaN())
	x := []float32{-1, 0, 0.5, 3, 6, 6.5, nan, float32(math.Inf(1)), 5.999}
	g := []float32{2, -3, -4, 5, 6, 7, 8, 9, -10}
	want := []float32{0, 0, -4, 5, 0, 0, 0, 0, -10}
	dx := make([]float32, len(g))
	clipGrad32(x, g, dx, 0, 6)
	for i := range want {
		if math.Float32bits(dx[i]) != math.Float32bits(want[i]) {
			t.Errorf("x %v g %v: dx %v, want %v", x[i], g[i], dx[i], want[i])
		}
	}
}
