package xreg

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
)

// mcNLLClosedForm is the MC NLL −(1/n) Σ_i log((1/K) Σ_k softmax(z_k,i)_{y_i}) of K passes'
// logits (each n·c), from its definition.
func mcNLLClosedForm(z [][]float64, c int, labels []int) float64 {
	var total float64
	for i, y := range labels {
		var pbar float64
		for _, zk := range z {
			row := zk[i*c : (i+1)*c]
			var s float64
			for _, v := range row {
				s += math.Exp(v)
			}
			pbar += math.Exp(row[y]) / s / float64(len(z))
		}
		total -= math.Log(pbar)
	}
	return total / float64(len(labels))
}

// TestPhiPassesExact: the φ loss and gradient that phiPasses accumulates over nets of about one
// batch equal (a) the loss and gradient of the K·n-row MC NLL net on the same noise (BatchNorm on
// running statistics, where the two define the same loss), (b) the closed-form MC NLL of K
// separate passes and central finite differences of it with the noise held fixed (both modes).
func TestPhiPassesExact(t *testing.T) {
	for _, c := range []struct {
		name       string
		model      string
		shape      []int
		batchStats bool
		k, n       int
	}{
		{"cnn-bn eval, chunks of 2", "cnn-bn.onnx", nil, false, 4, 6},
		{"cnn-bn eval, padded last chunk", "cnn-bn.onnx", nil, false, 3, 5},
		{"cnn-bn batch statistics, per pass", "cnn-bn.onnx", nil, true, 3, 4},
		{"mlp-ln, chunks", "mlp-ln-op13.onnx", []int{784}, false, 3, 5},
		{"mlp-ln, per pass", "mlp-ln-op13.onnx", []int{784}, true, 2, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := injectedFixture(t, c.model)
			regs, err := inject.Regs(m)
			if err != nil {
				t.Fatal(err)
			}
			var phi []string
			for _, r := range regs {
				phi = append(phi, r.Name)
			}
			input, output := m.Graph.Inputs[0].Name, m.Graph.Outputs[0].Name
			reg := smallData(t, "reg", c.n, c.shape)
			d := reg.Dim()
			p, err := newPhiPasses(m, phiOptions{k: c.k, n: c.n, batchStats: c.batchStats, float64: true,
				input: input, output: output, phi: phi})
			if err != nil {
				t.Fatal(err)
			}
			// The noise of the K·n layout (row r·n + i: pass r of example i), drawn once.
			rng := rand.New(rand.NewPCG(11, 12))
			netRows := p.x.Shape()[0]
			big, perRow := map[string][]float64{}, map[string]int{}
			for _, in := range p.net.Noise {
				perRow[in.Name] = in.Node.Shape().TotalSize() / netRows
				big[in.Name] = make([]float64, c.k*c.n*perRow[in.Name])
				for i := range big[in.Name] {
					big[in.Name][i] = rng.NormFloat64()
				}
			}
			// noiseOf gives the frozen noise of the net rows whose K·n-layout rows are given.
			noiseOf := func(net *executor.Net, rows []int) executor.Noise {
				vals := map[string]*tensor.Dense{}
				for _, in := range net.Noise {
					pr := perRow[in.Name]
					v := make([]float64, len(rows)*pr)
					for j, row := range rows {
						if row >= 0 {
							copy(v[j*pr:(j+1)*pr], big[in.Name][row*pr:(row+1)*pr])
						}
					}
					vals[in.Name] = tensor.New(tensor.WithShape(in.Node.Shape()...), tensor.WithBacking(v))
				}
				return executor.Noise{Values: vals}
			}
			loss, err := p.run(reg.X, d, reg.Y, func(u int) executor.Noise { return noiseOf(p.net, p.rowsOf(u)) })
			if err != nil {
				t.Fatal(err)
			}
			grads := map[string]float64{}
			for _, name := range phi {
				grads[name] = p.grads[name][0]
			}

			// (b) One plain net of n rows, run pass by pass: the closed-form loss and its finite
			// differences with respect to the first element of every φ.
			plain, err := executor.Build(m, executor.BuildOptions{Batch: c.n, Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			if c.batchStats {
				plain.SetBatchNormMode(kernels.TrainFrozen)
			}
			x := tensor.New(tensor.WithShape(append([]int{c.n}, m.Graph.Inputs[0].Shape[1:]...)...), tensor.WithBacking(append([]float32(nil), reg.X...)))
			closed := func() float64 {
				z := make([][]float64, c.k)
				for r := range z {
					rows := make([]int, c.n)
					for i := range rows {
						rows[i] = r*c.n + i
					}
					outs, err := plain.Run(map[string]*tensor.Dense{input: x}, noiseOf(plain, rows))
					if err != nil {
						t.Fatal(err)
					}
					z[r] = outs[0].Float64s()
				}
				return mcNLLClosedForm(z, outs0Classes(t, plain), reg.Y)
			}
			if want := closed(); math.Abs(loss-want) > 1e-10*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %v, closed form %v", loss, want)
			}
			for _, name := range phi {
				v := plain.Values[name].Float64s()
				orig := v[0]
				const h = 1e-6 // ReLU and max-pool kinks lie within 1e-5 of the cnn-bn point
				v[0] = orig + h
				up := closed()
				v[0] = orig - h
				down := closed()
				v[0] = orig
				fd := (up - down) / (2 * h)
				if math.Abs(grads[name]-fd) > 1e-6+1e-4*math.Abs(fd) {
					t.Errorf("d loss / d %s = %v, finite difference %v", name, grads[name], fd)
				}
			}
			if c.batchStats {
				return // the K·n net's batch statistics would mix the passes: another loss
			}

			// (a) The K·n-row net of the single-batch path, on the same noise.
			old, err := executor.Build(m, executor.BuildOptions{Batch: c.k * c.n, Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			l, err := old.MCNLL(output, c.k, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := old.Grad(l, phi...); err != nil {
				t.Fatal(err)
			}
			if err := old.SetMCLabels(reg.Y); err != nil {
				t.Fatal(err)
			}
			xs := make([]float32, 0, c.k*len(reg.X))
			all := make([]int, c.k*c.n)
			for r := 0; r < c.k; r++ {
				xs = append(xs, reg.X...)
			}
			for i := range all {
				all[i] = i
			}
			bigX := tensor.New(tensor.WithShape(append([]int{c.k * c.n}, m.Graph.Inputs[0].Shape[1:]...)...), tensor.WithBacking(xs))
			if err := old.Forward(map[string]*tensor.Dense{input: bigX}, noiseOf(old, all)); err != nil {
				t.Fatal(err)
			}
			want, _ := old.LossValue()
			if math.Abs(loss-want) > 1e-10*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %v, K·n net %v", loss, want)
			}
			for _, name := range phi {
				g, _ := old.GradValue(name)
				for i, w := range g.Float64s() {
					if got := p.grads[name][i]; math.Abs(got-w) > 1e-10+1e-8*math.Abs(w) {
						t.Errorf("d loss / d %s[%d] = %v, K·n net %v", name, i, got, w)
					}
				}
			}
		})
	}
}

// outs0Classes is the number of classes of the net's first output.
func outs0Classes(t *testing.T, net *executor.Net) int {
	t.Helper()
	s := net.Outputs[0].Shape()
	if s.Dims() != 2 {
		t.Fatalf("output shape %v", s)
	}
	return s[1]
}
