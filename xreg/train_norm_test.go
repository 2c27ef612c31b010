package xreg

import (
	"math"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestTrainNorm trains each injected norm fixture with cross-regularization for a few epochs on
// the bundled Fashion-MNIST subset: the training loss falls, every σ moves, and the normalization
// scale and bias parameters are updated.
func TestTrainNorm(t *testing.T) {
	if testing.Short() {
		t.Skip("trains CNNs; skipped with -short")
	}
	train, reg := smallData(t, "train", 192, []int{1, 28, 28}), smallData(t, "reg", 64, []int{1, 28, 28})
	for _, f := range testutil.NormFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(f.Path(".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			var affine []string
			for _, n := range m.Graph.Nodes {
				if n.OpType != "InstanceNormalization" && n.OpType != "GroupNormalization" {
					continue
				}
				for _, v := range n.Inputs[1:] {
					if _, ok := m.Graph.Initializers[v]; ok {
						affine = append(affine, v)
					}
				}
			}
			before := map[string][]float32{}
			for _, name := range affine {
				before[name] = append([]float32(nil), m.Graph.Initializers[name].Floats()...)
			}
			res, err := Train(m, train, reg, TrainConfig{Epochs: 3, BatchSize: 32, RegEvery: 2, MC: 2, RegBatch: 32, RegLR: 0.05})
			if err != nil {
				t.Fatal(err)
			}
			h := res.History
			if len(h) != 3 || !(h[2].TrainLoss < h[0].TrainLoss) {
				t.Fatalf("training loss did not fall: %+v", h)
			}
			regs, err := inject.Regs(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(regs) != f.InstanceNorm+f.GroupNorm {
				t.Errorf("%d regs, want %d", len(regs), f.InstanceNorm+f.GroupNorm)
			}
			for _, r := range regs {
				if s := h[2].Sigma[inject.SigmaKey(r.Name)]; math.Abs(s-inject.DefaultSigma0) < 1e-4 {
					t.Errorf("σ of %s stayed at %v", r.Name, s)
				}
			}
			if err := WriteBack(m, res.Values); err != nil {
				t.Fatal(err)
			}
			for _, name := range affine {
				if testutil.BitsEqual(m.Graph.Initializers[name].Floats(), before[name]) {
					t.Errorf("normalization parameter %s did not change", name)
				}
			}
			t.Logf("train loss %.4f → %.4f; %d affine normalization params trained", h[0].TrainLoss, h[2].TrainLoss, len(affine))
		})
	}
}
