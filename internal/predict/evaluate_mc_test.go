package predict_test

import (
	"math"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// sigmoidMean is E[1/(1+exp(−(μ+σz)))] for z ~ N(0, 1), by the trapezoid rule on [−10, 10].
func sigmoidMean(mu, sigma float64) float64 {
	const n = 20000
	h, s := 20.0/n, 0.0
	for i := 0; i <= n; i++ {
		z := -10 + float64(i)*h
		w := h
		if i == 0 || i == n {
			w = h / 2
		}
		s += w * math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) / (1 + math.Exp(-(mu + sigma*z)))
	}
	return s
}

// TestEvaluateMC: on a one-unit model whose logits are [v + σε, 0] (v = x through a BatchNorm
// that keeps it, noise injected after it), the fresh Monte-Carlo average of class 0 is
// E[sigmoid(v + σε)], computed here by quadrature; identical examples get different draws (fresh
// per example), a second call gives the same numbers (seeded), and σ → 0 gives the deterministic
// export's output.
func TestEvaluateMC(t *testing.T) {
	orttest.Require(t)
	const eps = 1e-5
	model := orttest.Build(
		[]orttest.Value{{Name: "x", Shape: []int64{-1, 1}}}, []orttest.Value{{Name: "y", Shape: []int64{-1, 2}}},
		[]orttest.Init{{Name: "s", Shape: []int64{1}, Float32: []float32{1}}, {Name: "b", Shape: []int64{1}, Float32: []float32{0}},
			{Name: "mu", Shape: []int64{1}, Float32: []float32{0}}, {Name: "var", Shape: []int64{1}, Float32: []float32{1 - eps}},
			{Name: "W", Shape: []int64{2, 1}, Float32: []float32{1, 0}}},
		orttest.Node{Op: "BatchNormalization", In: []string{"x", "s", "b", "mu", "var"}, Out: []string{"n"}},
		orttest.Node{Op: "Gemm", In: []string{"n", "W"}, Out: []string{"y"}, Ints: map[string]int64{"transB": 1}},
	)
	m, err := onnximport.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	const sigma = 1.5
	testutil.SetLogSigma(t, m, float32(math.Log(sigma)))
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{-1, 0.5, 2, 2}
	set := &dataset.Set{X: x, Shape: []int{1}, Y: []int{0, 1, 0, 1}, Classes: 2, Source: "four"}
	const k = 6000
	ev, err := predict.EvaluateMC(data, "tiny", set, k, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x {
		want := sigmoidMean(float64(v), sigma)
		got := ev.Probabilities[i][0]
		// Standard error ≤ 0.5/√k ≈ 0.0065; allow 4 of them.
		if math.Abs(got-want) > 4*0.5/math.Sqrt(k) {
			t.Errorf("example %d (x = %g): MC mean of class 0 is %.4f, E[sigmoid(x + σε)] = %.4f", i, v, got, want)
		}
	}
	if ev.Probabilities[2][0] == ev.Probabilities[3][0] {
		t.Error("two identical examples got the same average: the draws are not fresh per example")
	}
	again, err := predict.EvaluateMC(data, "tiny", set, k, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if again.Probabilities[i][0] != ev.Probabilities[i][0] {
			t.Fatalf("example %d: %v then %v with the same seed", i, ev.Probabilities[i][0], again.Probabilities[i][0])
		}
	}

	// σ → 0: the average equals the deterministic prediction.
	testutil.SetLogSigma(t, m, -30)
	if data, err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	ev, err = predict.EvaluateMC(data, "tiny", set, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x {
		want := 1 / (1 + math.Exp(-float64(v)))
		if math.Abs(ev.Probabilities[i][0]-want) > 1e-6 {
			t.Errorf("σ≈0, example %d: %.7f, want %.7f", i, ev.Probabilities[i][0], want)
		}
	}

	// A deterministic model is refused.
	_, err = predict.EvaluateMC(orttest.Linear([]int64{2}, linearW, linearB, ""), "linear", set, 4, 0)
	if err == nil || !strings.Contains(err.Error(), "no random node") {
		t.Errorf("deterministic model: error %v, want one saying it has no random node", err)
	}
}
