package executor

import (
	"fmt"
	"sort"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	register("Softmax", buildSoftmax)
	register("ReduceMean", buildReduceMean)
	register("ReduceSum", buildReduceMean)
}

// ---- Softmax ----

// buildSoftmax follows the model's opset: from opset 13 the softmax runs along axis (default -1);
// before, the input is coerced to 2-D at axis (default 1) and the softmax runs over each row of
// all the dimensions from axis on.
func buildSoftmax(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	s := x.Shape()
	def := int64(-1)
	if b.model.Opset < 13 {
		def = 1
	}
	axis, err := normAxis(n.Int("axis", def), s.Dims(), false)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	op := &softmaxOp{outer: 1, n: 1, inner: 1}
	for i, d := range s {
		switch {
		case i < axis:
			op.outer *= d
		case i == axis || b.model.Opset < 13:
			op.n *= d
		default:
			op.inner *= d
		}
	}
	op.opBase = newOpBase(fmt.Sprintf("Softmax{%d}", axis), b.dt, s, x)
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// softmaxOp normalises over n elements of stride inner, for each of outer×inner positions.
type softmaxOp struct {
	opBase
	outer, n, inner int
}

func (op *softmaxOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		softmaxKernel(op.outer, op.n, op.inner, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		softmaxKernel(op.outer, op.n, op.inner, in[0], out)
		return nil
	})
}

func softmaxKernel[T float](outer, n, inner int, x, y []T) {
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			mx := x[base]
			for i := 1; i < n; i++ {
				mx = max(mx, x[base+i*inner])
			}
			var sum T
			for i := 0; i < n; i++ {
				e := exp(x[base+i*inner] - mx)
				y[base+i*inner] = e
				sum += e
			}
			for i := 0; i < n; i++ {
				y[base+i*inner] /= sum
			}
		}
	}
}

func (op *softmaxOp) DiffWRT(int) []bool { return []bool{true} }

func (op *softmaxOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &softmaxGradOp{opBase: newOpBase("SoftmaxGrad", op.dt, op.out, output, grad), fwd: op}
	n, err := gorgonia.ApplyOp(g, output, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// softmaxGradOp computes dx = y ⊙ (dy − Σ dy ⊙ y) from y and dy.
type softmaxGradOp struct {
	opBase
	fwd *softmaxOp
}

func (op *softmaxGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	f := op.fwd
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		softmaxGradKernel(f.outer, f.n, f.inner, in[0], in[1], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		softmaxGradKernel(f.outer, f.n, f.inner, in[0], in[1], out)
		return nil
	})
}

func softmaxGradKernel[T float](outer, n, inner int, y, g, dx []T) {
	for o := 0; o < outer; o++ {
		for j := 0; j < inner; j++ {
			base := o*n*inner + j
			var dot T
			for i := 0; i < n; i++ {
				k := base + i*inner
				dot += g[k] * y[k]
			}
			for i := 0; i < n; i++ {
				k := base + i*inner
				dx[k] = y[k] * (g[k] - dot)
			}
		}
	}
}

// ---- ReduceMean ----

// buildReduceMean reads the axes from the attribute (opset < 18) or the optional second input
// (opset ≥ 18, which must be a constant); no axes reduce everything unless noop_with_empty_axes.
func buildReduceMean(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	s := x.Shape()
	var axes []int64
	// The axes input (opset ≥ 18, ReduceSum ≥ 13; older attributes are moved there by
	// onnximport's op-version adapters).
	if n.Input(1) != "" || !n.Has("axes") {
		if n.Input(1) != "" {
			t, ok := b.Const(n, 1)
			if !ok {
				return fmt.Errorf("%v: the axes input %q must be a constant", n, n.Input(1))
			}
			axes = t.Ints()
		}
	} else {
		axes = n.Ints("axes", nil)
	}
	if len(axes) == 0 && n.Int("noop_with_empty_axes", 0) != 0 {
		b.Set(n, 0, x)
		return nil
	}
	reduce := make([]bool, s.Dims())
	if len(axes) == 0 {
		for i := range reduce {
			reduce[i] = true
		}
	}
	for _, a := range axes {
		i, err := normAxis(a, s.Dims(), false)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		reduce[i] = true
	}
	keep := n.Int("keepdims", 1) != 0
	kept := make(tensor.Shape, s.Dims())
	var out tensor.Shape
	count := 1
	for i, d := range s {
		if reduce[i] {
			kept[i] = 1
			count *= d
			if keep {
				out = append(out, 1)
			}
			continue
		}
		kept[i] = d
		out = append(out, d)
	}
	if out == nil {
		out = tensor.Shape{}
	}
	if n.OpType == "ReduceSum" {
		count = 1
	}
	op := &reduceMeanOp{opBase: newOpBase(fmt.Sprintf("%s%v", n.OpType, sortedAxes(reduce)), b.dt, out, x), count: count, plan: newPlan(s, kept, s)}
	op.zero = true
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

func sortedAxes(reduce []bool) []int {
	var out []int
	for i, r := range reduce {
		if r {
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// reduceMeanOp averages its input over the reduced axes. Its output has the layout of the input's
// shape with the reduced axes set to 1, whether or not they are kept.
type reduceMeanOp struct {
	opBase
	count int
	plan  bplan // plan of (in, kept, in)
}

func (op *reduceMeanOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		sumTo(out, in[0], &op.plan, 1/float32(op.count))
		return nil
	}, func(in [][]float64, out []float64) error {
		sumTo(out, in[0], &op.plan, 1/float64(op.count))
		return nil
	})
}

func (op *reduceMeanOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reduceMeanOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &expandOp{opBase: newOpBase("ReduceMeanGrad", op.dt, inputs[0].Shape(), grad), plan: op.plan, scale: 1 / float64(op.count)}
	n, err := gorgonia.ApplyOp(g, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// expandOp broadcasts its input to its output shape and scales it.
type expandOp struct {
	opBase
	plan  bplan // plan of (out, in, out)
	scale float64
}

func (op *expandOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		expandTo(out, in[0], &op.plan, float32(op.scale))
		return nil
	}, func(in [][]float64, out []float64) error {
		expandTo(out, in[0], &op.plan, op.scale)
		return nil
	})
}
