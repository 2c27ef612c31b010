package export_test

import (
	"math"
	"slices"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// TestWeightNorm: a learnable L2 norm on the classifier head (inject --norm l2), beside noise
// after the normalization nodes. (1) Injected, the model computes the original's output in
// onnxruntime (noise off at σ ≈ 0) and exports to the original graph. (2) After real training
// steps, which move the head's direction (θ) and its log ρ (φ, on the regularization set), the
// export — the original graph with ρ·W/‖W‖ folded into W — run by onnxruntime equals the
// trainer's deterministic prediction (≤ 1e-5), and the exported head's norm is the learned ρ.
func TestWeightNorm(t *testing.T) {
	orttest.Require(t)
	for _, c := range []struct{ model, where, head string }{
		{"cnn-bn", "fc/Gemm|BatchNormalization", "/fc/Gemm"},
		{"mlp-ln-op17", "fc4/Gemm|LayerNormalization", "/fc4/Gemm"},
	} {
		t.Run(c.model, func(t *testing.T) {
			orig := load(t, c.model)
			shape := []int{1, 28, 28}
			if orig.Graph.Inputs[0].Shape[1] == 784 {
				shape = []int{784}
			}
			set, err := dataset.Load("../testdata/fmnist-small/test-images-idx3-ubyte.gz", dataset.Options{Limit: 96, Shape: shape})
			if err != nil {
				t.Fatal(err)
			}
			xs := append([]int64{int64(set.Len())}, ints64(shape)...)
			want := runModel(t, orig, set.X, xs).Float32

			m := orig.Clone()
			rep, err := inject.Apply(m, inject.Options{Norm: inject.NormL2, Where: c.where})
			if err != nil {
				t.Fatal(err)
			}
			var norm *inject.Reg
			for i, r := range rep.Regs {
				if r.Kind == inject.KindNorm {
					if norm != nil || r.Point != c.head {
						t.Fatalf("norm regs: %+v, want one at %s", rep.Regs, c.head)
					}
					norm = &rep.Regs[i]
				}
			}
			if norm == nil || len(rep.Regs) < 2 {
				t.Fatalf("regs %+v: want a norm at %s beside noise", rep.Regs, c.head)
			}
			w0 := slices.Clone(orig.Graph.Initializers[norm.Value].Float)
			rho0 := l2(w0)

			tiny := m.Clone()
			setRegs(t, tiny, -30) // σ ≈ 0; log ρ is not a log σ and stays
			if d := testutil.MaxAbsDiff(t, runModel(t, tiny, set.X, xs).Float32, f64(want)); d > 1e-5 {
				t.Errorf("injected model differs from the original by %g", d)
			}
			ex := m.Clone()
			if _, err := export.Apply(ex, export.Options{}); err != nil {
				t.Fatal(err)
			}
			sameGraph(t, orig, ex)
			if d := testutil.MaxAbsDiff(t, runModel(t, ex, set.X, xs).Float32, f64(want)); d > 1e-5 {
				t.Errorf("export of the untrained injected model differs from the original by %g", d)
			}

			train, reg := set.Slice(0, 64), set.Slice(64, 96)
			res, err := xreg.Train(m, train, reg, xreg.TrainConfig{Epochs: 2, BatchSize: 32, LR: 1e-2, RegEvery: 1, MC: 2, RegBatch: 32, RegLR: 0.1, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := xreg.WriteBack(m, res.Values); err != nil {
				t.Fatal(err)
			}
			logRho := float64(m.Graph.Initializers[norm.Name].Float[0])
			if math.Abs(logRho-norm.Init) < 1e-4 {
				t.Errorf("log ρ stayed at %g: the regularization set did not move it", logRho)
			}
			probs, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ex = m.Clone()
			erep, err := export.Apply(ex, export.Options{})
			if err != nil {
				t.Fatal(err)
			}
			sameGraph(t, orig, ex)
			got := softmaxRows(runModel(t, ex, set.X, xs).Float32, 10)
			d := maxRowsDiff(probs, got)
			t.Logf("ρ %.4g → %.4g; max |export − trainer| = %.2g", rho0, math.Exp(logRho), d)
			if d > 1e-5 {
				t.Errorf("export differs from the trainer's deterministic prediction by %g", d)
			}
			w := ex.Graph.Initializers[norm.Value].Float
			if r := l2(w); math.Abs(r-math.Exp(logRho)) > 1e-5*r {
				t.Errorf("exported head has norm %g, learned ρ = %g", r, math.Exp(logRho))
			}
			var moved float64 // the direction W/‖W‖ moved: θ trained through the norm
			for i := range w {
				moved = math.Max(moved, math.Abs(float64(w[i])/l2(w)-float64(w0[i])/rho0))
			}
			if moved < 1e-4 {
				t.Errorf("the head's direction moved by %g only: W was not trained through the norm", moved)
			}
			for _, l := range erep.Regs {
				if l.Kind == inject.KindNorm && math.Abs(l.Norm-math.Exp(logRho)) > 1e-9*l.Norm {
					t.Errorf("report: norm %g, want %g", l.Norm, math.Exp(logRho))
				}
			}
			if _, ok := ex.Graph.Initializers[norm.Name]; ok {
				t.Errorf("the export still holds %s", norm.Name)
			}
		})
	}
}

func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
