package probs

import (
	"fmt"
	"math"
)

const (
	// Tolerance is how far from 1 the values of a probability vector may sum. Float32 outputs of
	// a softmax over up to ~10⁴ classes stay well inside it; logits almost never fall inside it.
	Tolerance = 1e-3
	// Floor is the smallest probability NLL takes the logarithm of.
	Floor = 1e-12
)

// Softmax writes exp(z − max z) / Σ exp(z − max z) into dst (len(z) values; dst may be z) and
// returns dst. With dst nil it allocates.
func Softmax(dst, z []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(z))
	}
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, v)
	}
	s := 0.0
	for j, v := range z {
		dst[j] = math.Exp(v - mx)
		s += dst[j]
	}
	for j := range dst[:len(z)] {
		dst[j] /= s
	}
	return dst
}

// AddSoftmax adds w·softmax(z) to dst: the running mean of Monte-Carlo passes with w = 1/passes.
func AddSoftmax(dst []float64, z []float32, w float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - mx)
	}
	for j, v := range z {
		dst[j] += w * math.Exp(float64(v)-mx) / s
	}
}

// Argmax returns the index of the largest value of x, the first one on ties (0 for an empty x).
func Argmax[T float32 | float64](x []T) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// NLL returns −ln p[y], with p[y] floored at Floor.
func NLL(p []float64, y int) float64 { return -math.Log(math.Max(p[y], Floor)) }

// Check returns nil when p is a probability vector: every value ≥ 0 and the sum within Tolerance
// of 1. Otherwise the error says which condition fails (the sum first).
func Check(p []float64) error {
	s := 0.0
	for _, v := range p {
		s += v
	}
	if math.Abs(s-1) > Tolerance || math.IsNaN(s) {
		return fmt.Errorf("sums to %g, want 1 within %g", s, Tolerance)
	}
	for j, v := range p {
		if v < 0 {
			return fmt.Errorf("class %d is negative (%g)", j, v)
		}
	}
	return nil
}

// AreDistributions reports whether every row is a probability vector (see Check).
func AreDistributions(rows [][]float64) bool {
	for _, row := range rows {
		if Check(row) != nil {
			return false
		}
	}
	return true
}
