package export_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestMCZeroSigma: with σ = 0 every draw is the deterministic model, so the ensemble's output is the
// softmax of the original logits.
func TestMCZeroSigma(t *testing.T) {
	orttest.Require(t)
	for _, test := range []struct {
		name  string
		opset int64 // 0: the fixture's
	}{
		{"mlp-ln-op13", 0}, {"mlp-ln-op17", 0}, {"cnn-bn", 0}, {"wrn-16-1", 0},
		// Softmax before opset 13 flattens from its axis; ReduceMean takes axes as an input from 18.
		{"mlp-ln-op13", 11}, {"mlp-ln-op17", 18},
	} {
		name := test.name
		for _, mode := range []string{inject.Additive, inject.Multiplicative} {
			t.Run(fmt.Sprintf("%s/opset-%d/%s", name, test.opset, mode), func(t *testing.T) {
				x, shape := fixtureInput(t, name, 8)
				orig := withOpset(t, load(t, name), test.opset)
				want := softmaxRows(runModel(t, orig, x, shape).Float32, 10)
				m := orig.Clone()
				if _, err := inject.Apply(m, inject.Options{Mode: mode}); err != nil {
					t.Fatal(err)
				}
				setRegs(t, m, -200) // exp(−200) rounds to 0 in float32
				rep, err := export.Apply(m, export.Options{MC: 3, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				got := runModel(t, m, x, shape)
				if !slices.Equal(got.Shape, []int64{8, 10}) {
					t.Fatalf("output shape %v, want [8 10]", got.Shape)
				}
				if d := testutil.MaxAbsDiff(t, got.Float32, want); d > 1e-6 {
					t.Errorf("ensemble with σ = 0 differs from softmax of the original logits by %g", d)
				}
				if rep.Method != export.MC || rep.Output != export.Probabilities || m.Graph.Outputs[0].Name != "logits" {
					t.Errorf("method %q, output %q named %q; want mc, probabilities, the original name", rep.Method, rep.Output, m.Graph.Outputs[0].Name)
				}
			})
		}
	}
}

// withOpset returns m with its default opset changed to opset (0: unchanged), for fixtures whose ops
// mean the same in both.
func withOpset(t *testing.T, m *onnximport.Model, opset int64) *onnximport.Model {
	t.Helper()
	if opset == 0 {
		return m
	}
	for _, o := range m.Proto.OpsetImport {
		if o.GetDomain() == "" {
			o.Version = proto.Int64(opset)
		}
	}
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if m.Opset != opset {
		t.Fatalf("opset %d, want %d", m.Opset, opset)
	}
	return m
}

// TestMCMatchesManualDraws checks the ensemble against K noisy evaluations built independently:
// the original model with the frozen draw k added (or multiplied) at every noise point, run in
// onnxruntime, softmaxed and averaged in float64. It also checks that the draws are σ times the
// documented PCG normal draws, and that the ensemble is deterministic.
func TestMCMatchesManualDraws(t *testing.T) {
	orttest.Require(t)
	const k, seed, batch = 4, 7, 5
	for _, test := range []struct {
		model, name string
		opt         inject.Options
		// input, when set, is the per-example input shape of a model without reference inputs
		// (the zoo's); its examples are then uniform draws in [-1, 1).
		input []int64
	}{
		{"cnn-bn", "additive-layer", inject.Options{}, nil},
		{"cnn-bn", "multiplicative-channel", inject.Options{Mode: inject.Multiplicative, Granularity: inject.Channel}, nil},
		{"mlp-ln-op13", "additive-channel", inject.Options{Granularity: inject.Channel}, nil},
		{"mlp-ln-op17", "multiplicative-layer", inject.Options{Mode: inject.Multiplicative}, nil},
		{"wrn-16-1", "additive-channel", inject.Options{Granularity: inject.Channel}, nil},
		// Shape → Gather → Concat → Reshape (channel shuffle) and Pad before the noise points:
		// onnximport's shape rules stop there, the executor's shapes are used.
		{"../zoo/shufflenet_v2-rnd-op13", "additive-layer", inject.Options{}, []int64{3, 32, 32}},
		{"../zoo/densenet-rnd-op13", "additive-layer", inject.Options{}, []int64{3, 32, 32}},
	} {
		t.Run(test.model+"/"+test.name, func(t *testing.T) {
			m := injected(t, test.model, test.opt)
			regs, err := inject.Regs(m)
			if err != nil {
				t.Fatal(err)
			}
			// σ between 0.2 and 0.8, different per channel.
			sigmaOf := map[string][]float64{}
			dimsOf := map[string][]int{}
			for _, r := range regs {
				old := m.Graph.Initializers[r.Name]
				v := make([]float32, old.Size())
				s := make([]float64, len(v))
				for i := range v {
					v[i] = float32(math.Log(0.2 + 0.6*float64(i%13)/12))
					s[i] = math.Exp(float64(v[i]))
				}
				sigmaOf[r.Name], dimsOf[r.Name] = s, old.Dims
				if err := m.SetInitializer(onnximport.NewFloatTensor(r.Name, old.Dims, v)); err != nil {
					t.Fatal(err)
				}
			}
			plain := m.Clone()
			if _, err := export.Apply(m, export.Options{MC: k, Seed: seed}); err != nil {
				t.Fatal(err)
			}

			// Deterministic: the same bytes from the same seed, the same output bits run after run.
			again := plain.Clone()
			if _, err := export.Apply(again, export.Options{MC: k, Seed: seed}); err != nil {
				t.Fatal(err)
			}
			b1, _ := m.Marshal()
			b2, _ := again.Marshal()
			if !bytes.Equal(b1, b2) {
				t.Error("two exports with the same seed differ")
			}
			other := plain.Clone()
			if _, err := export.Apply(other, export.Options{MC: k, Seed: seed + 1}); err != nil {
				t.Fatal(err)
			}
			if b3, _ := other.Marshal(); bytes.Equal(b1, b3) {
				t.Error("exports with different seeds are equal")
			}
			var x []float32
			var shape []int64
			if test.input == nil {
				x, shape = fixtureInput(t, test.model, batch)
			} else {
				shape = append([]int64{batch}, test.input...)
				r := rand.New(rand.NewPCG(1, 2))
				x = make([]float32, batch*int(test.input[0]*test.input[1]*test.input[2]))
				for i := range x {
					x[i] = float32(2*r.Float64() - 1)
				}
			}
			got := runModel(t, m, x, shape)
			if got2 := runModel(t, m, x, shape); !slices.Equal(got.Float32, got2.Float32) {
				t.Error("two runs of the ensemble differ")
			}

			// The draws: σ·ε (additive) or 1 + σ·ε (multiplicative), ε from PCG(seed, MCStream) in
			// reg, draw, element order.
			rng := rand.New(rand.NewPCG(seed, export.MCStream))
			draws := map[string]*onnximport.Tensor{}
			for _, r := range regs {
				c := noiseConstant(t, m, r)
				draws[r.Value] = c
				size := c.Size() / k
				d := c.Dims[2:]
				for j, v := range c.Float {
					s := sigmaOf[r.Name][sigmaIndex(dimsOf[r.Name], d, j%size)]
					want := s * rng.NormFloat64()
					if r.Mode == inject.Multiplicative {
						want = 1 + want
					}
					if v != float32(want) {
						t.Fatalf("%s: draw element %d is %v, want %v", r.Name, j, v, float32(want))
					}
				}
			}

			// K manual noisy evaluations.
			mean := make([]float64, batch*10)
			for kk := range k {
				noisy := load(t, test.model)
				for _, r := range regs {
					c := draws[r.Value]
					size := c.Size() / k
					slice := onnximport.NewFloatTensor("draw."+r.Value, append([]int{1}, c.Dims[2:]...), c.Float[kk*size:(kk+1)*size])
					addConstant(t, noisy, r.Value, slice, r.Mode)
				}
				p := softmaxRows(runModel(t, noisy, x, shape).Float32, 10)
				for i := range mean {
					mean[i] += p[i] / k
				}
			}
			if d := testutil.MaxAbsDiff(t, got.Float32, mean); d > 2e-6 {
				t.Errorf("ensemble differs from the mean of %d manual noisy evaluations by %g", k, d)
			}
			// The draws matter: the ensemble is not the deterministic model.
			det := softmaxRows(runModel(t, load(t, test.model), x, shape).Float32, 10)
			if d := testutil.MaxAbsDiff(t, got.Float32, det); d < 1e-4 {
				t.Errorf("ensemble equals the deterministic model (difference %g): the noise is missing", d)
			}
		})
	}
}

// noiseConstant returns the frozen draws of reg r in the ensemble m: the initializer the noise node
// after r.Value reads.
func noiseConstant(t *testing.T, m *onnximport.Model, r inject.Reg) *onnximport.Tensor {
	t.Helper()
	for _, split := range m.Graph.Consumers[r.Value] {
		if split.OpType != "Reshape" {
			continue
		}
		for _, n := range m.Graph.Consumers[split.Outputs[0]] {
			if c, ok := m.Graph.Initializers[n.Input(1)]; ok {
				return c
			}
		}
	}
	t.Fatalf("no frozen draws after %q", r.Value)
	return nil
}

// sigmaIndex is the element of a σ of shape dims that applies to element j of the per-example shape
// d, for the three layouts inject makes: one σ ([1]), one per channel on axis 1 of the value
// ([C, 1, …]), one per element of the normalized trailing shape (= d).
func sigmaIndex(dims, d []int, j int) int {
	switch {
	case prod(dims) == 1:
		return 0
	case slices.Equal(dims, d):
		return j
	case dims[0] == d[0] && prod(dims) == d[0]:
		return j / prod(d[1:])
	}
	panic("unexpected σ layout")
}

// addConstant makes every reader of value read value + c (or value · c) instead.
func addConstant(t *testing.T, m *onnximport.Model, value string, c *onnximport.Tensor, mode string) {
	t.Helper()
	op := "Add"
	if mode == inject.Multiplicative {
		op = "Mul"
	}
	tp, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	g := m.Proto.Graph
	g.Initializer = append(g.Initializer, tp)
	out := "noisy." + value
	for _, n := range g.Node {
		for i, in := range n.Input {
			if in == value {
				n.Input[i] = out
			}
		}
	}
	g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String(out), OpType: proto.String(op), Input: []string{value, c.Name}, Output: []string{out}})
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	for i, n := range m.Graph.Nodes { // topological order in the file too
		g.Node[i] = n.Proto
	}
}
