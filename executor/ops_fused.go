package executor

import (
	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// This file fuses the injected Gaussian noise y = x + σ⊙ε, which inject writes as
// Add(x, Mul(ε, σ)) with ε = RandomNormalLike(x), into one op: one pass over x and ε instead of
// a Mul pass that writes σ⊙ε to a tensor of x's size and an Add pass that reads it back. The
// arithmetic is the same, element for element (the product is rounded before the sum, as the
// two ops round it), and so are the gradients: dx is the output's gradient, dσ and dε those of
// the Mul.

// noisyAdd builds an Add node n whose operand is a Mul of a noise input ε (of the Add's output
// shape) by a factor s that broadcasts to it, read by nothing but this Add, as one noisyAddOp.
// It reports false (and builds nothing) for any other Add.
func (b *builder) noisyAdd(n *onnximport.Node) (bool, error) {
	g := b.model.Graph
	for i := 0; i < 2; i++ {
		mul := g.Producer[n.Input(1-i)]
		if mul == nil || mul.OpType != "Mul" || mul.Domain != "" || len(g.Consumers[mul.Outputs[0]]) != 1 || b.isGraphOutput(mul.Outputs[0]) {
			continue
		}
		x, ok := b.vals[n.Input(i)]
		if !ok {
			continue
		}
		for j := 0; j < 2; j++ {
			eps, ok := b.vals[mul.Input(j)]
			if !ok || !b.isNoise(eps) || !eps.Shape().Eq(x.Shape()) {
				continue
			}
			s, err := b.Input(mul, 1-j)
			if err != nil {
				return false, nil
			}
			out, err := broadcastShapes(eps.Shape(), s.Shape())
			if err != nil || !out.Eq(x.Shape()) || x.Dtype() != s.Dtype() {
				continue
			}
			op := &noisyAddOp{opBase: newOpBase("NoisyAdd", b.dt, out, x, eps, s), plan: newPlan(eps.Shape(), s.Shape(), out)}
			y, err := gorgonia.ApplyOp(op, x, eps, s)
			if err != nil {
				return false, err
			}
			b.Set(n, 0, y)
			return true, nil
		}
	}
	return false, nil
}

// isNoise reports whether node is one of the net's noise inputs.
func (b *builder) isNoise(node *gorgonia.Node) bool {
	for _, in := range b.net.Noise {
		if in.Node == node {
			return true
		}
	}
	return false
}

// isGraphOutput reports whether the value is an output of the model's graph.
func (b *builder) isGraphOutput(name string) bool {
	for _, o := range b.model.Graph.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// noisyAddOp computes x + ε·s (inputs x, ε, s): x and ε of the output's shape, s broadcast to it
// by plan (the plan of the Mul ε·s).
type noisyAddOp struct {
	opBase
	plan bplan
}

func (op *noisyAddOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		noisyAddKernel(&op.plan, in[0], in[1], in[2], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		noisyAddKernel(&op.plan, in[0], in[1], in[2], out)
		return nil
	})
}

func noisyAddKernel[T float](p *bplan, x, eps, s, out []T) {
	p.eachParallel(func(o, ie, is, n, se, ss int) {
		c, xs := out[o:o+n], x[o:o+n]
		if se == 1 && ss == 0 {
			e, f := eps[ie:ie+n], s[is]
			for i := range c {
				c[i] = xs[i] + T(e[i]*f) // T(…) rounds the product, as the Mul does
			}
			return
		}
		for i := range c {
			c[i] = xs[i] + T(eps[ie]*s[is])
			ie += se
			is += ss
		}
	})
}

func (op *noisyAddOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *noisyAddOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	out := gorgonia.Nodes{grad, nil, nil} // d/dx of x + … is the output's gradient itself
	for which, in := range inputs[1:] {
		g := &binaryGradOp{
			opBase: newOpBase("MulGrad", op.dt, in.Shape(), inputs[1], inputs[2], grad),
			kind:   binMul, which: which, plan: op.plan,
		}
		g.zero = true
		n, err := gorgonia.ApplyOp(g, inputs[1], inputs[2], grad)
		if err != nil {
			return nil, err
		}
		out[1+which] = n
	}
	return out, nil
}
