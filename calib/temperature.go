package calib

import (
	"fmt"
	"math"

	"github.com/xreg-onnx/xreg-onnx/internal/probs"
)

// The interval searched by FitTemperature.
const (
	MinTemperature = 1e-2
	MaxTemperature = 1e2
)

// Softmax returns the row-wise softmax of logits, computed stably by
// subtracting each row's maximum. It rejects empty, ragged or non-finite
// input.
func Softmax(logits [][]float64) ([][]float64, error) {
	if _, err := checkRows("logit", logits); err != nil {
		return nil, err
	}
	out := make([][]float64, len(logits))
	for i, row := range logits {
		out[i] = probs.Softmax(nil, row)
	}
	return out, nil
}

// FitTemperature returns the temperature T that minimises the mean NLL of
// softmax(logits/T) against labels: the temperature-scaling calibration of
// Guo et al. (2017). The search is a golden-section search on ln T over
// [MinTemperature, MaxTemperature] to a relative precision of about 1e-9;
// the NLL is convex in 1/T and therefore unimodal in ln T. A result at
// either end of the interval means the minimum lies beyond it, for example
// T → 0 when every example is classified correctly.
func FitTemperature(logits [][]float64, labels []int) (float64, error) {
	if _, err := checkMatrix("logit", logits, labels); err != nil {
		return 0, err
	}
	return minimizeLogT(func(u float64) float64 { return temperatureNLL(logits, labels, math.Exp(-u)) }), nil
}

// FitTemperatureSoft returns the temperature T that minimises the mean cross-entropy of
// softmax(logits/T) against target distributions (one probability row per logit row): it fits a
// deterministic model's temperature to another prediction on the same inputs, such as the
// Monte-Carlo average of a noisy model, without labels. The search is FitTemperature's.
func FitTemperatureSoft(logits, targets [][]float64) (float64, error) {
	k, err := checkRows("logit", logits)
	if err != nil {
		return 0, err
	}
	if len(targets) != len(logits) {
		return 0, fmt.Errorf("calib: %d target rows for %d logit rows", len(targets), len(logits))
	}
	for i, row := range targets {
		if len(row) != k {
			return 0, fmt.Errorf("calib: target row %d has %d values, want %d", i, len(row), k)
		}
	}
	return minimizeLogT(func(u float64) float64 {
		invT, s := math.Exp(-u), 0.0
		for i, row := range logits {
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, v*invT)
			}
			e, dot := 0.0, 0.0
			for j, v := range row {
				e += math.Exp(v*invT - mx)
				dot += targets[i][j] * v * invT
			}
			s += mx + math.Log(e) - dot
		}
		return s / float64(len(logits))
	}), nil
}

// minimizeLogT minimises f(u), u = ln T, by golden-section search over u in
// [ln MinTemperature, ln MaxTemperature], and returns T.
func minimizeLogT(f func(u float64) float64) float64 {
	a, b := math.Log(MinTemperature), math.Log(MaxTemperature)
	invPhi := (math.Sqrt(5) - 1) / 2
	x1, x2 := b-invPhi*(b-a), a+invPhi*(b-a)
	f1, f2 := f(x1), f(x2)
	for b-a > 1e-9 {
		if f1 <= f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - invPhi*(b-a)
			f1 = f(x1)
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + invPhi*(b-a)
			f2 = f(x2)
		}
	}
	// Compare the final interior point with the ends so that a minimum
	// beyond the interval returns the end itself.
	u, fu := x1, f1
	if f2 < fu {
		u, fu = x2, f2
	}
	for _, e := range []float64{math.Log(MinTemperature), math.Log(MaxTemperature)} {
		if fe := f(e); fe < fu {
			u, fu = e, fe
		}
	}
	return math.Exp(u)
}

// temperatureNLL is the mean of logsumexp(z·invT) − z_y·invT, the NLL of
// softmax(z·invT) without a probability floor.
func temperatureNLL(logits [][]float64, labels []int, invT float64) float64 {
	s := 0.0
	for i, row := range logits {
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v*invT)
		}
		e := 0.0
		for _, v := range row {
			e += math.Exp(v*invT - mx)
		}
		s += mx + math.Log(e) - row[labels[i]]*invT
	}
	return s / float64(len(logits))
}
