package export_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// affineLN returns mlp-ln-op17 with a trainable affine part on every LayerNormalization: its
// Scale and B inputs (Constant ones and zeros in the fixture) become initializers lnK.weight
// ~ U(0.5, 1.5) and lnK.bias ~ U(−0.25, 0.25), seeded, as a LayerNorm MLP with
// elementwise_affine=True exports.
func affineLN(t testing.TB) *onnximport.Model {
	t.Helper()
	m := load(t, "mlp-ln-op17")
	rng := rand.New(rand.NewPCG(17, 3))
	k := 0
	for _, np := range m.Proto.Graph.Node {
		if np.GetOpType() != "LayerNormalization" {
			continue
		}
		k++
		dims := m.Graph.Initializers["fc1.bias"].Dims // 256: the normalized width
		w, b := make([]float32, dims[0]), make([]float32, dims[0])
		for i := range w {
			w[i] = float32(0.5 + rng.Float64())
			b[i] = float32(0.5*rng.Float64() - 0.25)
		}
		for j, tn := range []*onnximport.Tensor{
			onnximport.NewFloatTensor(fmt.Sprintf("ln%d.weight", k), dims, w),
			onnximport.NewFloatTensor(fmt.Sprintf("ln%d.bias", k), dims, b),
		} {
			tp, err := tn.Encode()
			if err != nil {
				t.Fatal(err)
			}
			m.Proto.Graph.Initializer = append(m.Proto.Graph.Initializer, tp)
			np.Input[1+j] = tn.Name
		}
	}
	if k == 0 {
		t.Fatal("mlp-ln-op17 has no LayerNormalization")
	}
	// Drop the Constant nodes nothing reads any more.
	used := map[string]bool{}
	for _, np := range m.Proto.Graph.Node {
		for _, in := range np.Input {
			used[in] = true
		}
	}
	m.Proto.Graph.Node = slices.DeleteFunc(m.Proto.Graph.Node, func(np *onnxpb.NodeProto) bool {
		return np.GetOpType() == "Constant" && !used[np.Output[0]]
	})
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	return m
}

// placementFixtures are the models with an affine normalization: BatchNorm, LayerNorm with
// trainable γ/β, GroupNorm (opset 21, per-channel γ/β; opset 18, per-group γ/β), InstanceNorm; and the opset-13 layer norm
// spelled out (no affine: pre-affine must leave it as post-affine would).
func placementFixtures(t testing.TB) map[string]*onnximport.Model {
	return map[string]*onnximport.Model{
		"cnn-bn": load(t, "cnn-bn"), "mlp-ln-affine": affineLN(t), "cnn-gn-op21": load(t, "cnn-gn-op21"), "cnn-gn": load(t, "cnn-gn"),
		"cnn-in": load(t, "cnn-in"), "mlp-ln-op13": load(t, "mlp-ln-op13"),
	}
}

// TestPreAffine: with --placement pre-affine, (1) the injected model with σ → 0 and the export
// both compute the original model in onnxruntime (≤ 1e-5), and the export's graph is the
// original's node for node (same names, ops, inputs, attributes); (2) after real training steps,
// which move γ and β through the split Mul/Add and the BatchNorm running statistics, the
// trainer's deterministic prediction equals the export run by onnxruntime (≤ 1e-5), and the
// export's γ/β are the trained ones.
func TestPreAffine(t *testing.T) {
	orttest.Require(t)
	for name, orig := range placementFixtures(t) {
		t.Run(name, func(t *testing.T) {
			img := "../testdata/fmnist-small/test-images-idx3-ubyte.gz"
			shape := []int{1, 28, 28}
			if orig.Graph.Inputs[0].Shape[1] == 784 {
				shape = []int{784}
			}
			set, err := dataset.Load(img, dataset.Options{Limit: 96, Shape: shape})
			if err != nil {
				t.Fatal(err)
			}
			xs := append([]int64{int64(set.Len())}, ints64(shape)...)
			want := runModel(t, orig, set.X, xs).Float32

			m := orig.Clone()
			rep, err := inject.Apply(m, inject.Options{Placement: inject.PreAffine})
			if err != nil {
				t.Fatal(err)
			}
			split := 0
			for _, r := range rep.Regs {
				if r.Placement != inject.PreAffine {
					t.Errorf("%s: placement %q", r.Name, r.Placement)
				}
				if r.Affine != nil {
					split++
				}
			}
			if name == "mlp-ln-op13" && split != 0 || name != "mlp-ln-op13" && split != len(rep.Regs) {
				t.Fatalf("%d of %d points split their affine part", split, len(rep.Regs))
			}
			// (1) σ = e^−30: the injected model computes the original.
			tiny := m.Clone()
			setRegs(t, tiny, -30)
			if d := testutil.MaxAbsDiff(t, runModel(t, tiny, set.X, xs).Float32, f64(want)); d > 1e-5 {
				t.Errorf("injected model with σ≈0 differs from the original by %g", d)
			}
			ex := m.Clone()
			if _, err := export.Apply(ex, export.Options{}); err != nil {
				t.Fatal(err)
			}
			if d := testutil.MaxAbsDiff(t, runModel(t, ex, set.X, xs).Float32, f64(want)); d > 1e-5 {
				t.Errorf("export of the untrained injected model differs from the original by %g", d)
			}
			sameGraph(t, orig, ex)

			// (2) train a few steps, then trainer vs export.
			train, reg := set.Slice(0, 64), set.Slice(64, 96)
			res, err := xreg.Train(m, train, reg, xreg.TrainConfig{Epochs: 2, BatchSize: 32, LR: 1e-2, RegEvery: 1, MC: 2, RegBatch: 32, RegLR: 0.1, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if err := xreg.WriteBack(m, res.Values); err != nil {
				t.Fatal(err)
			}
			probs, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ex = m.Clone()
			if _, err := export.Apply(ex, export.Options{}); err != nil {
				t.Fatal(err)
			}
			sameGraph(t, orig, ex)
			got := softmaxRows(runModel(t, ex, set.X, xs).Float32, 10)
			d := maxRowsDiff(probs, got)
			t.Logf("max |export − trainer| = %.2g", d)
			if d > 1e-5 {
				t.Errorf("export differs from the trainer's deterministic prediction by %g", d)
			}
			for _, r := range rep.Regs {
				if r.Affine == nil {
					continue
				}
				g := r.Affine.Inputs[1]
				before, _ := orig.Graph.ConstValue(g)
				after, _ := ex.Graph.ConstValue(g)
				if before == nil || after == nil || slices.Equal(before.Floats(), after.Floats()) {
					t.Errorf("scale %q of %s: not trained, or not written back to the export", g, r.Affine.Node)
				}
			}
		})
	}
}

// sameGraph fails unless b's nodes are a's: same names, ops, inputs, outputs and attributes, in
// order.
func sameGraph(t *testing.T, a, b *onnximport.Model) {
	t.Helper()
	an, bn := a.Proto.Graph.Node, b.Proto.Graph.Node
	if len(an) != len(bn) {
		t.Fatalf("export has %d nodes, the original %d", len(bn), len(an))
	}
	for i := range an {
		if !proto.Equal(an[i], bn[i]) {
			t.Fatalf("node %d: export has %v, the original %v", i, bn[i], an[i])
		}
	}
}

// TestPreAffineMC: the frozen ensemble of a pre-affine model adds γ·σ·ε after the restored
// BatchNorm; the injected graph computes γ·(x̂ + σ·ε) + β with the noise before γ. With K = 1, the
// export run by onnxruntime must equal the injected model run by onnxruntime with its
// RandomNormalLike nodes replaced by the export's draw divided by γσ (that draw's ε).
func TestPreAffineMC(t *testing.T) {
	orttest.Require(t)
	m := injected(t, "cnn-bn", inject.Options{Placement: inject.PreAffine})
	perturb(t, m, 5)
	x, shape := fixtureInput(t, "cnn-bn", 8)
	ex := m.Clone()
	if _, err := export.Apply(ex, export.Options{MC: 1, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	got := runModel(t, ex, x, shape).Float32

	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	frozen := m.Clone()
	for _, r := range regs {
		base := r.Name[len("xreg.noise.") : len(r.Name)-len(".log_sigma")]
		noise := ex.Graph.Initializers["xreg.mc."+base+".noise"]
		if noise == nil {
			t.Fatalf("export has no frozen draw for %s", r.Name)
		}
		g, _ := m.Graph.ConstValue(r.Affine.Inputs[1])
		sigma := float32(math.Exp(float64(m.Graph.Initializers[r.Name].Floats()[0])))
		c := g.Size()
		per := noise.Size() / c // H·W (K = 1)
		eps := make([]float32, noise.Size())
		for i, v := range noise.Floats() {
			eps[i] = v / (g.Floats()[i/per] * sigma)
		}
		replaceRandom(t, frozen, "xreg/noise/"+base+"/eps", append([]int{1}, noise.Dims[2:]...), eps)
	}
	want := runModel(t, frozen, x, shape).Float32
	wantP := softmaxRows(want, 10)
	if d := testutil.MaxAbsDiff(t, got, wantP); d > 1e-5 {
		t.Errorf("frozen K=1 pre-affine ensemble differs from the injected model with the same draw by %g", d)
	}
}

// replaceRandom turns the RandomNormalLike node named name into a Constant holding v (broadcast
// over the batch).
func replaceRandom(t *testing.T, m *onnximport.Model, name string, dims []int, v []float32) {
	t.Helper()
	for _, np := range m.Proto.Graph.Node {
		if np.GetName() != name {
			continue
		}
		tp, err := onnximport.NewFloatTensor(name+"/value", dims, v).Encode()
		if err != nil {
			t.Fatal(err)
		}
		np.OpType = proto.String("Constant")
		np.Input = nil
		np.Attribute = []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tp}}
		if err := m.Reload(); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no node %q", name)
}

func ints64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}
