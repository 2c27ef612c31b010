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
			op := &noisyAddOp{opBase: newOpBase("NoisyAdd", b.dt, out, x, eps, s), plan: newPlan(eps.Shape(), s.Shape(), out),
				act: noAct, x: x, eps: eps, s: s}
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

// noAct marks a NoisyAdd without an activation.
const noAct unKind = -1

// noisyAct builds a Relu or Clip node n (kind k, bounds lo, hi) whose input is a NoisyAdd read by
// nothing else as one NoisyAdd with that activation: act(x + ε·s) in one pass, the sum not
// stored. It reports false (and builds nothing) otherwise.
func (b *builder) noisyAct(n *onnximport.Node, k unKind, lo, hi float64) (bool, error) {
	in, ok := b.vals[n.Input(0)]
	if !ok {
		return false, nil
	}
	add, ok := in.Op().(*noisyAddOp)
	if !ok || add.act != noAct || len(b.model.Graph.Consumers[n.Input(0)]) != 1 || b.isGraphOutput(n.Input(0)) {
		return false, nil
	}
	op := &noisyAddOp{opBase: newOpBase("NoisyAdd"+unNames[k], b.dt, add.out, add.x, add.eps, add.s), plan: add.plan,
		act: k, lo: lo, hi: hi, x: add.x, eps: add.eps, s: add.s}
	y, err := gorgonia.ApplyOp(op, add.x, add.eps, add.s)
	if err != nil {
		return false, err
	}
	b.Set(n, 0, y)
	return true, nil
}

// noisyAddOp computes act(x + ε·s) (inputs x, ε, s): x and ε of the output's shape, s broadcast
// to it by plan (the plan of the Mul ε·s); act is noAct, unRelu or unClip (bounds lo, hi).
type noisyAddOp struct {
	opBase
	plan      bplan
	act       unKind
	lo, hi    float64
	x, eps, s *gorgonia.Node // the inputs, for noisyAct
}

func (op *noisyAddOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		noisyAddKernel(&op.plan, in[0], in[1], in[2], out, op.act, float32(op.lo), float32(op.hi))
		return nil
	}, func(in [][]float64, out []float64) error {
		noisyAddKernel(&op.plan, in[0], in[1], in[2], out, op.act, op.lo, op.hi)
		return nil
	})
}

// actBlock is the number of sums the fused kernel writes before applying the activation to
// them, while they are in the cache.
const actBlock = 2048

func noisyAddKernel[T float](p *bplan, x, eps, s, out []T, act unKind, lo, hi T) {
	p.eachParallel(func(o, ie, is, n, se, ss int) {
		for b := 0; b < n; b += actBlock {
			m := min(actBlock, n-b)
			c, xs := out[o+b:o+b+m], x[o+b:o+b+m]
			if se == 1 && ss == 0 {
				e, f := eps[ie+b:ie+b+m], s[is]
				for i := range c {
					c[i] = xs[i] + T(e[i]*f) // T(…) rounds the product, as the Mul does
				}
			} else {
				je, js := ie+b*se, is+b*ss
				for i := range c {
					c[i] = xs[i] + T(eps[je]*s[js])
					je += se
					js += ss
				}
			}
			if act != noAct {
				unaryKernel(act, lo, hi, c, c) // the unfused Relu/Clip's own loop
			}
		}
	})
}

func (op *noisyAddOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *noisyAddOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.act != noAct {
		// The gradient of the sum is the activation's gradient, which reads the output (ReLU and
		// Clip: it lies strictly inside the bounds exactly when the sum does), as unaryOp's does.
		g := &unaryGradOp{opBase: newOpBase(unNames[op.act]+"Grad", op.dt, op.out, output, output, grad), kind: op.act, p: op.lo, q: op.hi}
		var err error
		if grad, err = gorgonia.ApplyOp(g, output, output, grad); err != nil {
			return nil, err
		}
	}
	out := gorgonia.Nodes{grad, nil, nil} // d/dx of x + … is the sum's gradient itself
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
