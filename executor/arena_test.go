package executor

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Every net the package's tests build is pooled (the default) with a poisoned arena: a lent
// buffer is filled with NaN, so that an op reading an element it did not write, or a value read
// after its buffer went back to the arena, fails the onnxruntime and finite-difference checks.
// Every non-scalar value is lent, however small.
func init() { poisonArenas, minLend = true, 1 }

// TestArenaSharedNets runs three nets that share one arena alternately — an evaluation net at the
// fixture's batch, one at batch 1 and a training net with a cross-entropy loss and its gradients —
// and checks that each still computes what it computes alone: the outputs against onnxruntime, the
// gradients bit for bit against a net that keeps every value in its own buffer (Gorgonia's tape
// machine, BuildOptions.KeepValues), and every pass again after the others ran. A buffer given
// back to the arena while a value in it is still to be read, or a root (output, gradient) lent
// out, shows up as a difference or as the arena's NaN poison.
func TestArenaSharedNets(t *testing.T) {
	for _, f := range parityFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(filepath.Join(f.Dir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			in := m.Graph.Inputs[0].Name
			d := readParityData(t, f)
			n := d.batch()
			arena := NewArena()
			eval, err := Build(m, BuildOptions{Batch: n, Arena: arena})
			if err != nil {
				t.Fatal(err)
			}
			one, err := Build(m, BuildOptions{Batch: 1, Arena: arena, Values: eval.Values})
			if err != nil {
				t.Fatal(err)
			}
			train := trainingNet(t, m, BuildOptions{Batch: n, Training: true, Arena: arena, Values: eval.Values})
			ref := trainingNet(t, m, BuildOptions{Batch: n, Training: true, KeepValues: true, Values: eval.Values})
			feeds := map[string]*tensor.Dense{in: f32Tensor(d.XShape, d.X)}
			if err := ref.Forward(feeds, Noise{}); err != nil {
				t.Fatal(err)
			}
			want := gradCopies(t, ref)

			orttest.Require(t)
			s, err := ort.Open(filepath.Join(f.Dir, f.File), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want64, wshape, err := ortRun(s, in, d.X, d.XShape)
			if err != nil {
				t.Fatal(err)
			}
			var first []float32
			for round := 0; round < 2; round++ {
				got64, shape64, err := netRun(eval, in, d.X, d.XShape)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, fmt.Sprintf("round %d: batch %d vs onnxruntime", round, n), got64, want64, shape64, wshape)
				if round == 0 {
					first = got64
				} else if !testutil.BitsEqual(got64, first) {
					t.Errorf("round %d: batch %d output changed after the other nets ran", round, n)
				}
				if err := train.Forward(feeds, Noise{}); err != nil {
					t.Fatal(err)
				}
				// The batch-1 net runs between the training pass and the reading of its gradients.
				for _, i := range parityExamples {
					x, _, xs, _ := d.example(i, 1)
					g, gs, err := netRun(one, in, x, xs)
					if err != nil {
						t.Fatal(err)
					}
					w, ws, err := ortRun(s, in, x, xs)
					if err != nil {
						t.Fatal(err)
					}
					checkClose(t, fmt.Sprintf("round %d: batch 1, example %d vs onnxruntime", round, i), g, w, gs, ws)
				}
				got := gradCopies(t, train)
				for name, w := range want {
					if !testutil.BitsEqual(got[name], w) {
						t.Errorf("round %d: gradient of %q differs from the tape machine's (max |diff| %.3g)",
							round, name, testutil.Compare(got[name], w, 0, 0).MaxAbs)
					}
				}
			}
			if arena.Bytes() == 0 {
				t.Error("the arena lent no buffer")
			}
			// Every value but the roots is lent: an op that cannot take a lent buffer
			// (no SwapOutput, no UsePreallocDo) would hold its own for the whole run.
			for _, net := range []*Net{eval, one, train} {
				for _, s := range net.exec.sched.steps {
					if !s.root && !s.lend && s.node.Shape().Dims() > 0 {
						t.Errorf("%v (op %T) keeps a buffer of its own: give the op a SwapOutput method (internal/kernels/lend.go, executor.opBase)", s.node.Name(), s.op)
					}
				}
				checkLentState(t, net)
			}
		})
	}
}

// checkLentState checks, after a net's Forward, that its ops keep no scratch memory and no state
// of their own between runs: the convolutions' scratch (kernels.Lender) and the max poolings'
// argmax records are lent by the arena, each record from its forward op to the gradient op that
// reads it (the forward op itself in a net without gradients), and all of it is back.
func checkLentState(t *testing.T, net *Net) {
	t.Helper()
	steps := net.exec.sched.steps
	for i, s := range steps {
		if u, ok := s.op.(interface{ HeldScratch() int }); ok {
			if n := u.HeldScratch(); n != 0 {
				t.Errorf("%v (op %v) keeps %d elements of scratch between runs", s.node.Name(), s.op, n)
			}
		}
		l, ok := s.op.(stateLender)
		if !ok {
			continue
		}
		if s.state == nil {
			t.Errorf("%v (op %v): its state is not lent", s.node.Name(), s.op)
			continue
		}
		// The step that gives the state back: the last reader, or the op itself.
		want := i
		for k, r := range steps {
			if sr, ok := r.op.(stateReader); ok {
				for _, op := range sr.ReadsStateOf() {
					if op == s.op {
						want = max(want, k)
					}
				}
			}
		}
		at := -1
		for k, r := range steps {
			for _, j := range r.dropState {
				if j == i {
					at = k
				}
			}
		}
		if at != want {
			t.Errorf("%v (op %v): its state goes back after step %d, want %d (its last reader)", s.node.Name(), s.op, at, want)
		}
		if net.Grads != nil && want == i {
			t.Errorf("%v (op %v): no gradient op reads its state in a training net", s.node.Name(), s.op)
		}
		if d := l.SwapState(nil); d != nil {
			t.Errorf("%v (op %v) still holds its lent state after the pass", s.node.Name(), s.op)
		}
	}
}

// trainingNet builds a net with the mean cross-entropy of its first output as loss, the gradients
// of every param, labels 0, 1, 2, … and BatchNorm in TrainFrozen mode (batch statistics, running
// statistics untouched, so that passes do not change each other's results).
func trainingNet(t *testing.T, m *onnximport.Model, opt BuildOptions) *Net {
	t.Helper()
	net, err := Build(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := net.CrossEntropy(net.OutputNames[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Grad(loss); err != nil {
		t.Fatal(err)
	}
	s := net.Outputs[0].Shape()
	labels := make([]int, s[0])
	for i := range labels {
		labels[i] = i % s[1]
	}
	if err := net.SetLabels(labels); err != nil {
		t.Fatal(err)
	}
	net.SetBatchNormMode(kernels.TrainFrozen)
	return net
}

// gradCopies returns copies of a net's gradients by param name.
func gradCopies(t *testing.T, net *Net) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, name := range net.GradNames {
		g, err := net.GradValue(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tensorFloat32s(g)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = append([]float32(nil), v...)
	}
	return out
}

// TestArenaMCNLLGradient: the MC NLL gradient reads probabilities its forward op keeps outside
// the graph's edges: nothing but that state orders the loss before its gradient. A schedule given
// the gradient before the loss must still run the loss first: the gradient of a noise scale then
// equals the tape machine's (BuildOptions.KeepValues) bit for bit.
func TestArenaMCNLLGradient(t *testing.T) {
	m, err := onnximport.Load("../testdata/models/mlp-ln-op13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	regs, err := inject.Regs(m)
	if err != nil || len(regs) == 0 {
		t.Fatalf("inject: %d regs, %v", len(regs), err)
	}
	const k, rows = 2, 3
	in := m.Graph.Inputs[0]
	x := make([]float32, k*rows*784)
	for i := range x {
		x[i] = float32(i%97) / 97
	}
	var grads [2][]float32
	for i, keep := range []bool{false, true} {
		net, err := Build(m, BuildOptions{Batch: k * rows, KeepValues: keep})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := net.MCNLL(net.OutputNames[0], k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Grad(loss, regs[0].Name); err != nil {
			t.Fatal(err)
		}
		if err := net.SetMCLabels([]int{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if !keep {
			// The gradient first, the loss last: only the op's state orders them.
			sched, err := newSchedule(gorgonia.Nodes{net.Grads[0], net.Loss, net.Outputs[0]}, NewArena())
			if err != nil {
				t.Fatal(err)
			}
			net.exec = &executor{sched: sched}
		}
		if err := net.Forward(map[string]*tensor.Dense{in.Name: f32Tensor([]int{k * rows, 784}, x)}, Noise{}); err != nil {
			t.Fatal(err)
		}
		grads[i] = gradCopies(t, net)[regs[0].Name]
	}
	if !testutil.BitsEqual(grads[0], grads[1]) {
		t.Errorf("gradient differs from the tape machine's (max |diff| %.3g)", testutil.Compare(grads[0], grads[1], 0, 0).MaxAbs)
	}
}

// TestArenaLazyNoise: a pooled net fills its noise inputs in lent buffers just before their first
// reader; the noise, hence the outputs and gradients, must be those of the tape machine's net
// (BuildOptions.KeepValues, eager fill) for the same generator: large Gaussian inputs (chunk seeds
// drawn at bind time), small ones (drawn at bind time), zero noise and fixed values.
func TestArenaLazyNoise(t *testing.T) {
	for _, name := range []string{"cnn-bn", "mlp-ln-op13"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnximport.Load("../testdata/models/" + name + ".onnx")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			const batch = 8
			shape := append([]int{batch}, m.Graph.Inputs[0].Shape[1:]...)
			x := make([]float32, size(shape))
			for i := range x {
				x[i] = float32(i%89) / 89
			}
			feeds := map[string]*tensor.Dense{m.Graph.Inputs[0].Name: f32Tensor(shape, x)}
			var outs [2][][]float32
			var grads [2]map[string][]float32
			for i, keep := range []bool{false, true} {
				net := trainingNet(t, m, BuildOptions{Batch: batch, Training: true, KeepValues: keep})
				if len(net.Noise) == 0 {
					t.Fatal("the injected model has no noise input")
				}
				fixed := map[string]*tensor.Dense{}
				in := net.Noise[0]
				v := make([]float32, size(in.Node.Shape()))
				for j := range v {
					v[j] = float32(j%7) - 3
				}
				fixed[in.Name] = f32Tensor(in.Node.Shape(), v)
				for _, noise := range []Noise{
					{Rand: rand.New(rand.NewPCG(3, 4))},
					{},
					{Rand: rand.New(rand.NewPCG(5, 6)), Values: fixed},
				} {
					if err := net.Forward(feeds, noise); err != nil {
						t.Fatal(err)
					}
					y, err := tensorFloat32s(net.Outputs[0].Value().(*tensor.Dense))
					if err != nil {
						t.Fatal(err)
					}
					outs[i] = append(outs[i], append([]float32(nil), y...))
				}
				grads[i] = gradCopies(t, net)
			}
			for k := range outs[0] {
				if !testutil.BitsEqual(outs[0][k], outs[1][k]) {
					t.Errorf("noise setting %d: output differs from the tape machine's (max |diff| %.3g)", k, testutil.Compare(outs[0][k], outs[1][k], 0, 0).MaxAbs)
				}
			}
			for name, w := range grads[1] {
				if !testutil.BitsEqual(grads[0][name], w) {
					t.Errorf("gradient of %q differs from the tape machine's", name)
				}
			}
		})
	}
}

// TestArenaSplitsAndMerges: a freed buffer serves smaller values side by side without overlap, and
// once they are back it serves a value of its full size again, all without new memory.
func TestArenaSplitsAndMerges(t *testing.T) {
	a := NewArena()
	big, err := a.get(tensor.Float32, tensor.Shape{64, 64})
	if err != nil {
		t.Fatal(err)
	}
	a.put(big)
	want := a.Bytes()
	x, _ := a.get(tensor.Float32, tensor.Shape{32, 64})
	y, _ := a.get(tensor.Float32, tensor.Shape{2000})
	xs, ys := x.Float32s(), y.Float32s()
	for i := range xs {
		xs[i] = 1
	}
	for i := range ys {
		ys[i] = 2
	}
	for i, v := range xs {
		if v != 1 {
			t.Fatalf("x[%d] = %v after y was written: the two overlap", i, v)
		}
	}
	if got := a.Bytes(); got != want {
		t.Errorf("two halves took %d bytes, the freed buffer had %d", got, want)
	}
	a.put(y)
	a.put(x)
	z, _ := a.get(tensor.Float32, tensor.Shape{4096})
	if got := a.Bytes(); got != want || len(z.Float32s()) != 4096 {
		t.Errorf("after the halves came back, a full-size value took %d bytes (had %d): not merged", got, want)
	}
}
