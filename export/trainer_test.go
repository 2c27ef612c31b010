package export_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// TestMatchesTrainer: on real images, the export run by onnxruntime gives the probabilities of the
// trainer's deterministic forward pass (xreg.Predict, noise and augmentation off, BatchNorm in
// evaluation mode) of the trained model. "Training" here moves every parameter, running statistic
// and reg away from its initial value, as a run would.
func TestMatchesTrainer(t *testing.T) {
	orttest.Require(t)
	set, err := dataset.Load("../testdata/fmnist-small/test-images-idx3-ubyte.gz", dataset.Options{Limit: 32})
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		model string
		opt   inject.Options
	}{
		{"cnn-bn", inject.Options{Granularity: inject.Channel, Augment: []string{inject.Rotate, inject.Scale}}},
		{"mlp-ln-op13", inject.Options{Mode: inject.Multiplicative}},
		{"mlp-ln-op17", inject.Options{}},
	} {
		t.Run(test.model, func(t *testing.T) {
			m := injected(t, test.model, test.opt)
			perturb(t, m, 11)
			want, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := export.Apply(m, export.Options{}); err != nil {
				t.Fatal(err)
			}
			shape := append([]int64{int64(set.Len())}, 1, 28, 28)
			if m.Graph.Inputs[0].Shape[1] == 784 {
				shape = []int64{int64(set.Len()), 784}
			}
			got := softmaxRows(runModel(t, m, set.X, shape).Float32, 10)
			d := maxRowsDiff(want, got)
			t.Logf("max |export − trainer| = %.2g", d)
			if d > 1e-4 {
				t.Errorf("export differs from the trainer's deterministic pass by %g", d)
			}
		})
	}
}

// perturb moves every float initializer of m by seeded noise of 10 % of its spread (keeping
// variances positive), and sets log σ to log 0.5 and magnitudes to 1.5 times their value.
func perturb(t *testing.T, m *onnximport.Model, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, name := range m.Graph.InitializerNames {
		old := m.Graph.Initializers[name]
		if old.DType != onnximport.Float32 {
			continue
		}
		v := append([]float32{}, old.Float...)
		switch {
		case strings.HasSuffix(name, ".log_sigma"):
			for i := range v {
				v[i] = float32(math.Log(0.5))
			}
		case strings.HasSuffix(name, ".magnitude"):
			v[0] *= 1.5
		default:
			spread := 0.0
			for _, x := range v {
				spread = math.Max(spread, math.Abs(float64(x)))
			}
			for i := range v {
				v[i] += float32(0.1 * spread * rng.NormFloat64())
				if strings.HasSuffix(name, "running_var") {
					v[i] = float32(math.Abs(float64(v[i]))) + 0.1
				}
			}
		}
		if err := m.SetInitializer(onnximport.NewFloatTensor(name, old.Dims, v)); err != nil {
			t.Fatal(err)
		}
	}
}
