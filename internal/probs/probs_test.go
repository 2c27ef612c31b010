package probs

import (
	"math"
	"testing"
)

func TestSoftmax(t *testing.T) {
	for _, tc := range []struct {
		name string
		z    []float64
	}{
		{"small", []float64{1, 2, 3}},
		{"shifted", []float64{1001, 1002, 1003}}, // same result: softmax is shift invariant
		{"negative", []float64{-5, 0, 2.5, -1}},
		{"one", []float64{7}},
	} {
		// Closed form without the max shift (exact enough for these magnitudes after shifting by a
		// constant that keeps exp finite).
		c := tc.z[0]
		var s float64
		for _, v := range tc.z {
			s += math.Exp(v - c)
		}
		p := Softmax(nil, tc.z)
		sum := 0.0
		for j, v := range tc.z {
			if want := math.Exp(v-c) / s; math.Abs(p[j]-want) > 1e-15 {
				t.Errorf("%s: p[%d] = %v, want %v", tc.name, j, p[j], want)
			}
			sum += p[j]
		}
		if math.Abs(sum-1) > 1e-15 {
			t.Errorf("%s: sums to %v", tc.name, sum)
		}
		// In place gives the same values, and AddSoftmax with w accumulates w·p.
		in := append([]float64{}, tc.z...)
		Softmax(in, in)
		acc := make([]float64, len(tc.z))
		z32 := make([]float32, len(tc.z))
		for j, v := range tc.z {
			z32[j] = float32(v)
		}
		AddSoftmax(acc, z32, 0.5)
		AddSoftmax(acc, z32, 0.5)
		for j := range p {
			if in[j] != p[j] {
				t.Errorf("%s: in place p[%d] = %v, want %v", tc.name, j, in[j], p[j])
			}
			if math.Abs(acc[j]-p[j]) > 1e-6 { // z32 is z rounded to float32
				t.Errorf("%s: AddSoftmax twice with w = 0.5 gives %v at %d, want %v", tc.name, acc[j], j, p[j])
			}
		}
	}
}

func TestArgmaxNLL(t *testing.T) {
	for _, tc := range []struct {
		x    []float64
		want int
	}{{[]float64{0.1, 0.7, 0.2}, 1}, {[]float64{0.4, 0.4, 0.2}, 0}, {[]float64{-3, -1, -2}, 1}, {nil, 0}} {
		if got := Argmax(tc.x); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
	if got := Argmax([]float32{0, 2, 2}); got != 1 {
		t.Errorf("Argmax float32 = %d, want 1", got)
	}
	p := []float64{0.25, 0.75, 0}
	for _, tc := range []struct {
		y    int
		want float64
	}{{0, math.Log(4)}, {1, -math.Log(0.75)}, {2, -math.Log(Floor)}} {
		if got := NLL(p, tc.y); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("NLL(y=%d) = %v, want %v", tc.y, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []float64
		ok   bool
	}{
		{"exact", []float64{0.2, 0.3, 0.5}, true},
		{"inside tolerance", []float64{0.2, 0.3, 0.5 + 0.9*Tolerance}, true},
		{"outside tolerance", []float64{0.2, 0.3, 0.5 + 1.1*Tolerance}, false},
		{"negative", []float64{-0.1, 0.6, 0.5}, false},
		{"logits", []float64{2, -1, 0.5}, false},
		{"NaN", []float64{math.NaN(), 1}, false},
	} {
		if err := Check(tc.p); (err == nil) != tc.ok {
			t.Errorf("%s: Check = %v, want ok %v", tc.name, err, tc.ok)
		}
		if got := AreDistributions([][]float64{{1}, tc.p}); got != tc.ok {
			t.Errorf("%s: AreDistributions = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
