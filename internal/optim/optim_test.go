package optim

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

type reference struct {
	Cases []struct {
		Name    string      `json:"name"`
		W0      []float32   `json:"w0"`
		Grads   [][]float32 `json:"grads"`
		Weights [][]float32 `json:"weights"`
	} `json:"cases"`
	Clip struct {
		Norm float64   `json:"norm"`
		A    []float32 `json:"a"`
		B    []float32 `json:"b"`
	} `json:"clip"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAgainstTorch replays gradients recorded from torch.optim and compares every step.
func TestAgainstTorch(t *testing.T) {
	makers := map[string]func() Optimizer{
		"adam":         func() Optimizer { return NewAdam(1e-2, 0) },
		"adamw":        func() Optimizer { return NewAdam(1e-2, 0.1) },
		"sgd":          func() Optimizer { return NewSGD(0.1, 0, 0) },
		"sgd-momentum": func() Optimizer { return NewSGD(0.1, 0.9, 0) },
	}
	for _, c := range loadReference(t).Cases {
		t.Run(c.Name, func(t *testing.T) {
			opt := makers[c.Name]()
			w := append([]float32(nil), c.W0...)
			for step, g := range c.Grads {
				if err := opt.Step([]Param{{Name: "w", W: w, G: append([]float32(nil), g...)}}); err != nil {
					t.Fatal(err)
				}
				for i := range w {
					if d := math.Abs(float64(w[i] - c.Weights[step][i])); d > 2e-6 {
						t.Fatalf("step %d element %d: %v, torch %v", step, i, w[i], c.Weights[step][i])
					}
				}
			}
		})
	}
}

// TestStateRoundTrip: stopping after two steps and resuming from the saved state gives the same
// weights as four uninterrupted steps.
func TestStateRoundTrip(t *testing.T) {
	for _, mk := range []func() Optimizer{
		func() Optimizer { return NewAdam(1e-2, 0.1) },
		func() Optimizer { return NewSGD(0.1, 0.9, 0.01) },
	} {
		grads := [][]float32{{1, -2}, {0.5, 0.5}, {-1, 3}, {2, 2}}
		full := mk()
		w1 := []float32{1, 2}
		for _, g := range grads {
			full.Step([]Param{{Name: "w", W: w1, G: append([]float32(nil), g...)}})
		}
		first := mk()
		w2 := []float32{1, 2}
		for _, g := range grads[:2] {
			first.Step([]Param{{Name: "w", W: w2, G: append([]float32(nil), g...)}})
		}
		resumed := mk()
		if err := resumed.SetState(first.State()); err != nil {
			t.Fatal(err)
		}
		for _, g := range grads[2:] {
			resumed.Step([]Param{{Name: "w", W: w2, G: append([]float32(nil), g...)}})
		}
		if w1[0] != w2[0] || w1[1] != w2[1] {
			t.Errorf("%T: resumed %v, uninterrupted %v", full, w2, w1)
		}
	}
	if err := NewAdam(1, 0).SetState(State{Kind: "sgd"}); err == nil {
		t.Error("adam accepted sgd state")
	}
}

func TestClipGlobalNorm(t *testing.T) {
	ref := loadReference(t).Clip
	a := Param{Name: "a", G: []float32{3, 0, 4}, W: make([]float32, 3)}
	b := Param{Name: "b", G: []float32{0, 12}, W: make([]float32, 2)}
	norm := ClipGlobalNorm([]Param{a, b}, 6.5)
	if math.Abs(norm-ref.Norm) > 1e-5 || norm != 13 {
		t.Fatalf("norm %v, torch %v, closed form 13", norm, ref.Norm)
	}
	for i, want := range ref.A {
		if math.Abs(float64(a.G[i]-want)) > 1e-6 {
			t.Errorf("a[%d] = %v, torch %v", i, a.G[i], want)
		}
	}
	for i, want := range ref.B {
		if math.Abs(float64(b.G[i]-want)) > 1e-6 {
			t.Errorf("b[%d] = %v, torch %v", i, b.G[i], want)
		}
	}
}

// TestAdamFirstStepLarge checks Adam's first step on a parameter large enough to be updated in
// parallel chunks against its closed form: with both moments bias-corrected,
// w₁ = w₀ − lr·g/(|g| + ε) (with weight decay, w₀·(1 − lr·wd) first).
func TestAdamFirstStepLarge(t *testing.T) {
	const n, lr, wd = 5*chunkSize + 3, 0.01, 0.1
	w, g := make([]float32, n), make([]float32, n)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)))
		g[i] = float32(math.Cos(float64(i)*0.7)) * 3
	}
	w0 := append([]float32(nil), w...)
	a := NewAdam(lr, wd)
	if err := a.Step([]Param{{Name: "w", W: w, G: g}}); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		gi := float64(g[i])
		want := float64(w0[i])*(1-lr*wd) - lr*gi/(math.Abs(gi)+a.Eps)
		if math.Abs(float64(w[i])-want) > 1e-6 {
			t.Fatalf("element %d: %v, closed form %v", i, w[i], want)
		}
	}
}
