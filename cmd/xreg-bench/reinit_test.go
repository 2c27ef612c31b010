package main

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestReinit: every trainable parameter of both protocol fixtures is redrawn; the same seed gives
// the same network and another seed another one; weights and biases follow U(−b, b) with
// b = 1/√fan_in (their sample mean and variance match the closed form 0 and b²/3); BatchNorm
// scale 1, bias 0, running mean 0, variance 1.
func TestReinit(t *testing.T) {
	for _, file := range []string{"cnn-bn.onnx", "mlp-ln-op13.onnx"} {
		t.Run(file, func(t *testing.T) {
			load := func(seed int64) *onnximport.Model {
				m, err := onnximport.Load(filepath.Join("..", "..", "testdata", "models", file))
				if err != nil {
					t.Fatal(err)
				}
				if err := reinit(m, seed); err != nil {
					t.Fatal(err)
				}
				return m
			}
			a, b, c := load(0), load(0), load(1)
			fanIn := map[string]int{"conv1.weight": 9, "conv1.bias": 9, "conv2.weight": 32 * 9, "conv2.bias": 32 * 9, "fc.weight": 64 * 7 * 7, "fc.bias": 64 * 7 * 7,
				"fc1.weight": 784, "fc1.bias": 784, "fc2.weight": 256, "fc2.bias": 256, "fc3.weight": 256, "fc3.bias": 256, "fc4.weight": 256, "fc4.bias": 256}
			want := map[string]float32{"bn1.weight": 1, "bn1.bias": 0, "bn1.running_mean": 0, "bn1.running_var": 1,
				"bn2.weight": 1, "bn2.bias": 0, "bn2.running_mean": 0, "bn2.running_var": 1}
			for _, name := range a.Graph.InitializerNames {
				va := a.Graph.Initializers[name].Floats()
				if !slices.Equal(va, b.Graph.Initializers[name].Floats()) {
					t.Errorf("%s: seed 0 gives two different values", name)
				}
				if v, ok := want[name]; ok {
					for _, x := range va {
						if x != v {
							t.Fatalf("%s holds %v, want %v", name, x, v)
						}
					}
					continue
				}
				fan, ok := fanIn[name]
				if !ok {
					t.Fatalf("unexpected initializer %s", name)
				}
				if slices.Equal(va, c.Graph.Initializers[name].Floats()) {
					t.Errorf("%s: seeds 0 and 1 give the same values", name)
				}
				bound := 1 / math.Sqrt(float64(fan))
				var mean, sq float64
				for _, x := range va {
					if math.Abs(float64(x)) > bound {
						t.Fatalf("%s: %v outside ±%v", name, x, bound)
					}
					mean += float64(x)
					sq += float64(x) * float64(x)
				}
				n := float64(len(va))
				mean /= n
				variance := sq/n - mean*mean
				// Standard errors: mean b/√(3n), variance ≈ b²·0.30/√n (uniform: Var(x²) = 4b⁴/45).
				if n >= 200 && (math.Abs(mean) > 5*bound/math.Sqrt(3*n) || math.Abs(variance-bound*bound/3) > 5*bound*bound*0.3/math.Sqrt(n)) {
					t.Errorf("%s (%d values): mean %.3g, variance %.3g; want 0 and %.3g", name, len(va), mean, variance, bound*bound/3)
				}
			}
		})
	}
}
