package testutil

import (
	"math"
	"testing"
)

// TestCompare checks the tests' one element-wise tolerance rule against hand-worked cases.
func TestCompare(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name       string
		got, want  []float32
		rtol, atol float64
		bad        int
		maxAbs     float64
	}{
		{"equal", []float32{1, -2, 0}, []float32{1, -2, 0}, 1e-3, 1e-7, 0, 0},
		{"within rtol", []float32{1000.5}, []float32{1000}, 1e-3, 1e-7, 0, 0.5},
		{"beyond rtol", []float32{1002}, []float32{1000}, 1e-3, 1e-7, 1, 2},
		{"near zero needs atol", []float32{1e-6}, []float32{0}, 1e-3, 1e-7, 1, 1e-6},
		{"abs only", []float32{0.10005, 5}, []float32{0.1, 5.0002}, 0, 1e-4, 1, 0.0002},
		{"NaN equals NaN", []float32{nan, 1}, []float32{nan, 1}, 1e-3, 1e-7, 0, 0},
		{"NaN against a number", []float32{nan}, []float32{1}, 1e-3, 1e-7, 1, math.Inf(1)},
		{"equal infinities", []float32{inf}, []float32{inf}, 1e-3, 1e-7, 0, 0},
		{"finite against infinity", []float32{1}, []float32{inf}, 1e-3, 1e-7, 1, math.Inf(1)},
	} {
		d := Compare(tc.got, tc.want, tc.atol, tc.rtol)
		if d.Bad != tc.bad || math.Abs(d.MaxAbs-tc.maxAbs) > 1e-6*math.Max(1, tc.maxAbs) && !(math.IsInf(d.MaxAbs, 1) && math.IsInf(tc.maxAbs, 1)) {
			t.Errorf("%s: Compare(%v, %v, atol %g, rtol %g) = %d bad, max |diff| %g; want %d bad, max %g",
				tc.name, tc.got, tc.want, tc.atol, tc.rtol, d.Bad, d.MaxAbs, tc.bad, tc.maxAbs)
		}
		if (d.Ratio <= 1) != (tc.bad == 0) {
			t.Errorf("%s: Ratio %g, but %d bad", tc.name, d.Ratio, tc.bad)
		}
	}
	if d := Compare([]float64{1, 2}, []float64{1}, 0, 0); d.Bad != 2 || !math.IsInf(d.MaxAbs, 1) {
		t.Errorf("different lengths: %+v", d)
	}
}
