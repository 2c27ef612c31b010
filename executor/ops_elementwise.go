package executor

import (
	"fmt"
	"math"
	"runtime"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	for op, k := range map[string]binKind{"Add": binAdd, "Sub": binSub, "Mul": binMul, "Div": binDiv} {
		register(op, binaryBuilder(k))
	}
	register("Pow", buildPow)
	for op, k := range map[string]unKind{"Sqrt": unSqrt, "Exp": unExp, "Relu": unRelu, "Sigmoid": unSigmoid, "Tanh": unTanh} {
		register(op, unaryBuilder(k))
	}
	register("Clip", buildClip)
	register("Identity", buildIdentity)
	register("Dropout", buildDropout)
	register("Constant", buildConstant)
}

// buildConstant folds a Constant node into a build-time value.
func buildConstant(b *builder, n *onnximport.Node) error {
	if _, isWeight := b.weights[n.Outputs[0]]; isWeight {
		return nil // a param: built when first read
	}
	t, err := onnximport.ConstantValue(n)
	if err != nil {
		return err
	}
	b.SetConst(n, 0, t)
	return nil
}

// ---- binary ops with broadcasting ----

type binKind int

const (
	binAdd binKind = iota
	binSub
	binMul
	binDiv
	binPow
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div", "Pow"}

func binaryBuilder(k binKind) opBuilder {
	return func(b *builder, n *onnximport.Node) error {
		if k == binAdd {
			if fused, err := b.noisyAdd(n); fused || err != nil {
				return err
			}
		}
		x, err := b.Input(n, 0)
		if err != nil {
			return err
		}
		y, err := b.Input(n, 1)
		if err != nil {
			return err
		}
		out, err := b.binary(k, x, y)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.Set(n, 0, out)
		return nil
	}
}

// binary applies a broadcasting elementwise op.
func (b *builder) binary(k binKind, x, y *gorgonia.Node) (*gorgonia.Node, error) {
	out, err := broadcastShapes(x.Shape(), y.Shape())
	if err != nil {
		return nil, err
	}
	op := &binaryOp{opBase: newOpBase(binNames[k], b.dt, out, x, y), kind: k, plan: newPlan(x.Shape(), y.Shape(), out)}
	return gorgonia.ApplyOp(op, x, y)
}

type binaryOp struct {
	opBase
	kind binKind
	plan bplan
}

func (op *binaryOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		binaryKernel(op.kind, &op.plan, in[0], in[1], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		binaryKernel(op.kind, &op.plan, in[0], in[1], out)
		return nil
	})
}

func binaryKernel[T float](k binKind, p *bplan, a, b, out []T) {
	p.eachParallel(func(o, ia, ib, n, sa, sb int) {
		c := out[o : o+n]
		switch k {
		case binAdd:
			for i := range c {
				c[i] = a[ia] + b[ib]
				ia += sa
				ib += sb
			}
		case binSub:
			for i := range c {
				c[i] = a[ia] - b[ib]
				ia += sa
				ib += sb
			}
		case binMul:
			for i := range c {
				c[i] = a[ia] * b[ib]
				ia += sa
				ib += sb
			}
		case binDiv:
			for i := range c {
				c[i] = a[ia] / b[ib]
				ia += sa
				ib += sb
			}
		case binPow:
			for i := range c {
				c[i] = pow(a[ia], b[ib])
				ia += sa
				ib += sb
			}
		}
	})
}

func (op *binaryOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *binaryOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	out := make(gorgonia.Nodes, 2)
	for which, x := range inputs {
		// The gradient of a sum with respect to an operand of the output's shape is the
		// output's gradient itself.
		if op.kind == binAdd || (op.kind == binSub && which == 0) {
			if x.Shape().Eq(op.out) {
				out[which] = grad
				continue
			}
		}
		g := &binaryGradOp{
			opBase: newOpBase(binNames[op.kind]+"Grad", op.dt, x.Shape(), inputs[0], inputs[1], grad),
			kind:   op.kind, which: which, plan: op.plan,
		}
		g.zero = true
		n, err := gorgonia.ApplyOp(g, inputs[0], inputs[1], grad)
		if err != nil {
			return nil, err
		}
		out[which] = n
	}
	return out, nil
}

// binaryGradOp computes the gradient of a broadcasting binary op with respect to one operand,
// summed over the dimensions the operand was broadcast along. Inputs: a, b, dy.
type binaryGradOp struct {
	opBase
	kind  binKind
	which int
	plan  bplan
}

func (op *binaryGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		binaryGradKernel(op.kind, op.which, &op.plan, in[0], in[1], in[2], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		binaryGradKernel(op.kind, op.which, &op.plan, in[0], in[1], in[2], out)
		return nil
	})
}

func binaryGradKernel[T float](k binKind, which int, p *bplan, a, b, g, out []T) {
	if k == binMul && len(out) == 1 && len(p.dims) == 1 {
		// d(a·b)/d(scalar) over a whole tensor (the noise scale σ of a layer): a parallel dot product.
		other, so := a, p.sa[0]
		if which == 0 {
			other, so = b, p.sb[0]
		}
		out[0] += T(dotStrided(g, other, so))
		return
	}
	p.each(func(o, ia, ib, n, sa, sb int) {
		gg := g[o : o+n]
		j, sj := ia, sa
		if which == 1 {
			j, sj = ib, sb
		}
		if sj == 0 && k == binMul {
			// A broadcast operand: sum this run in registers, not through out[j] in memory.
			if which == 0 {
				out[j] += T(dot(gg, b, ib, sb))
			} else {
				out[j] += T(dot(gg, a, ia, sa))
			}
			return
		}
		switch {
		case k == binAdd || (k == binSub && which == 0):
			for i := range gg {
				out[j] += gg[i]
				j += sj
			}
		case k == binSub:
			for i := range gg {
				out[j] -= gg[i]
				j += sj
			}
		case k == binMul && which == 0:
			for i := range gg {
				out[j] += gg[i] * b[ib]
				j += sj
				ib += sb
			}
		case k == binMul:
			for i := range gg {
				out[j] += gg[i] * a[ia]
				j += sj
				ia += sa
			}
		case k == binDiv && which == 0:
			for i := range gg {
				out[j] += gg[i] / b[ib]
				j += sj
				ib += sb
			}
		case k == binDiv:
			for i := range gg {
				bv := b[ib]
				out[j] -= gg[i] * a[ia] / (bv * bv)
				j += sj
				ia += sa
				ib += sb
			}
		case k == binPow && which == 0:
			for i := range gg {
				if e := b[ib]; e != 0 {
					out[j] += gg[i] * e * pow(a[ia], e-1)
				}
				j += sj
				ia += sa
				ib += sb
			}
		case k == binPow:
			for i := range gg {
				if av := a[ia]; av != 0 {
					out[j] += gg[i] * pow(av, b[ib]) * log(av)
				}
				j += sj
				ia += sa
				ib += sb
			}
		}
	})
}

// buildPow uses a unary op when the exponent is a build-time scalar (x² in decomposed
// LayerNorms), a broadcasting binary op otherwise.
func buildPow(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	if t, ok := b.Const(n, 1); ok && t.Size() == 1 {
		shape, err := broadcastShapes(x.Shape(), tensor.Shape(t.Dims))
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		out, err := b.unary(unPow, x, float64(t.Floats()[0]), 0)
		if err == nil {
			// a [1]-shaped exponent can raise the rank of the base
			out, err = b.reshape(out, shape)
		}
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.Set(n, 0, out)
		return nil
	}
	return binaryBuilder(binPow)(b, n)
}

// ---- unary ops ----

type unKind int

const (
	unSqrt unKind = iota
	unExp
	unRelu
	unSigmoid
	unTanh
	unClip // p = min, q = max
	unPow  // p = exponent
)

var unNames = [...]string{"Sqrt", "Exp", "Relu", "Sigmoid", "Tanh", "Clip", "Pow"}

func unaryBuilder(k unKind) opBuilder {
	return func(b *builder, n *onnximport.Node) error {
		if k == unRelu {
			if fused, err := b.noisyAct(n, k, 0, 0); fused || err != nil {
				return err
			}
		}
		x, err := b.Input(n, 0)
		if err != nil {
			return err
		}
		out, err := b.unary(k, x, 0, 0)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.Set(n, 0, out)
		return nil
	}
}

func (b *builder) unary(k unKind, x *gorgonia.Node, p, q float64) (*gorgonia.Node, error) {
	op := &unaryOp{opBase: newOpBase(unNames[k], b.dt, x.Shape(), x), kind: k, p: p, q: q}
	return gorgonia.ApplyOp(op, x)
}

func buildClip(b *builder, n *onnximport.Node) error {
	lo, hi := math.Inf(-1), math.Inf(1)
	for i, dst := range []*float64{&lo, &hi} {
		if n.Input(i+1) == "" {
			continue
		}
		t, ok := b.Const(n, i+1)
		if !ok || t.Size() != 1 {
			return fmt.Errorf("%v: input %d (%q) must be a constant scalar", n, i+1, n.Input(i+1))
		}
		*dst = float64(t.Floats()[0])
	}
	if fused, err := b.noisyAct(n, unClip, lo, hi); fused || err != nil {
		return err
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	out, err := b.unary(unClip, x, lo, hi)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, out)
	return nil
}

// buildDropout is the identity of inference-mode Dropout. Training-mode Dropout (a training_mode
// input that is not a constant false, with a ratio that may be non-zero) draws a random mask that
// the deterministic executor does not reproduce: it is refused with a clear error, since
// cross-regularization replaces dropout by learned noise.
func buildDropout(b *builder, n *onnximport.Node) error {
	if name := n.Input(2); name != "" {
		mode, ok := b.Const(n, 2)
		if !ok {
			return fmt.Errorf("%v: training_mode %q is not a constant; only inference-mode Dropout is supported", n, name)
		}
		on := false
		for _, v := range mode.Ints() {
			on = on || v != 0
		}
		ratioZero := false
		if r, ok := b.Const(n, 1); ok && len(r.Floats()) == 1 && r.Floats()[0] == 0 {
			ratioZero = true
		}
		if on && !ratioZero {
			return fmt.Errorf("%v: training-mode Dropout (training_mode=true) is not supported: the executor is deterministic (inject learnable noise instead)", n)
		}
	}
	return buildIdentity(b, n)
}

// buildIdentity forwards its input (Identity, and Dropout: the executor is deterministic, noise is
// the regularizer's job).
func buildIdentity(b *builder, n *onnximport.Node) error {
	if _, isWeight := b.weights[n.Outputs[0]]; isWeight {
		return nil // a param of its own, not tied to its source: built when first read
	}
	if t, ok := b.Const(n, 0); ok && !b.isParam(n.Input(0)) {
		b.SetConst(n, 0, t)
		return nil
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	b.Set(n, 0, x)
	return nil
}

type unaryOp struct {
	opBase
	kind unKind
	p, q float64
}

func (op *unaryOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		parallelChunks(len(in[0]), func(lo, hi int) {
			unaryKernel(op.kind, float32(op.p), float32(op.q), in[0][lo:hi], out[lo:hi])
		})
		return nil
	}, func(in [][]float64, out []float64) error {
		parallelChunks(len(in[0]), func(lo, hi int) {
			unaryKernel(op.kind, op.p, op.q, in[0][lo:hi], out[lo:hi])
		})
		return nil
	})
}

func unaryKernel[T float](k unKind, p, q T, x, y []T) {
	y = y[:len(x)]
	switch k {
	case unSqrt:
		for i, v := range x {
			y[i] = sqrt(v)
		}
	case unExp:
		for i, v := range x {
			y[i] = exp(v)
		}
	case unRelu:
		if x32, ok := any(x).([]float32); ok {
			relu32(x32, any(y).([]float32))
			return
		}
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = 0
			}
		}
	case unSigmoid:
		for i, v := range x {
			if v >= 0 {
				y[i] = 1 / (1 + exp(-v))
			} else {
				e := exp(v)
				y[i] = e / (1 + e)
			}
		}
	case unTanh:
		for i, v := range x {
			y[i] = tanh(v)
		}
	case unClip:
		for i, v := range x {
			y[i] = min(max(v, p), q)
		}
	case unPow:
		switch p {
		case 2:
			for i, v := range x {
				y[i] = v * v
			}
		case 1:
			copy(y, x)
		case 0.5:
			for i, v := range x {
				y[i] = sqrt(v)
			}
		default:
			for i, v := range x {
				y[i] = pow(v, p)
			}
		}
	}
}

func (op *unaryOp) DiffWRT(int) []bool { return []bool{true} }

func (op *unaryOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	x := inputs[0]
	if op.kind != unPow {
		// The derivative is a function of y alone (ReLU and Clip: y is strictly inside the
		// bounds exactly when x is), so the gradient reads y in x's place and x's buffer can be
		// reused as soon as the forward pass is done with it (executor.Arena).
		x = output
	}
	g := &unaryGradOp{opBase: newOpBase(op.name+"Grad", op.dt, op.out, x, output, grad), kind: op.kind, p: op.p, q: op.q}
	n, err := gorgonia.ApplyOp(g, x, output, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// unaryGradOp computes dx from x, y and dy (y in x's place but for Pow: see SymDiff).
type unaryGradOp struct {
	opBase
	kind unKind
	p, q float64
}

func (op *unaryGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		unaryGradChunks(op.kind, float32(op.p), float32(op.q), in[0], in[1], in[2], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		unaryGradChunks(op.kind, op.p, op.q, in[0], in[1], in[2], out)
		return nil
	})
}

// unaryGradChunks runs unaryGradKernel over chunks of g in parallel; x and y are either as long
// as g or unused (nil or shorter) by the kind.
func unaryGradChunks[T float](k unKind, p, q T, x, y, g, dx []T) {
	parallelChunks(len(g), func(lo, hi int) {
		unaryGradKernel(k, p, q, part(x, lo, hi), part(y, lo, hi), g[lo:hi], dx[lo:hi])
	})
}

// part returns s[lo:hi], or s itself when s is shorter than hi (an input the kernel ignores).
func part[T float](s []T, lo, hi int) []T {
	if len(s) < hi {
		return s
	}
	return s[lo:hi]
}

func unaryGradKernel[T float](k unKind, p, q T, x, y, g, dx []T) {
	dx = dx[:len(g)]
	switch k {
	case unSqrt:
		for i, v := range g {
			dx[i] = v / (2 * y[i])
		}
	case unExp:
		for i, v := range g {
			dx[i] = v * y[i]
		}
	case unRelu:
		// The derivative at 0 is 0, as in PyTorch (Gorgonia's Rectify says 1).
		if x32, ok := any(x).([]float32); ok {
			reluGrad32(x32, any(g).([]float32), any(dx).([]float32))
			return
		}
		for i, v := range g {
			if x[i] > 0 {
				dx[i] = v
			} else {
				dx[i] = 0
			}
		}
	case unSigmoid:
		for i, v := range g {
			dx[i] = v * y[i] * (1 - y[i])
		}
	case unTanh:
		for i, v := range g {
			dx[i] = v * (1 - y[i]*y[i])
		}
	case unClip:
		// 1 strictly inside [min, max], 0 on and outside the bounds (PyTorch's hardtanh/ReLU6).
		if x32, ok := any(x).([]float32); ok {
			clipGrad32(x32, any(g).([]float32), any(dx).([]float32), float32(p), float32(q))
			return
		}
		for i, v := range g {
			if x[i] > p && x[i] < q {
				dx[i] = v
			} else {
				dx[i] = 0
			}
		}
	case unPow:
		switch p {
		case 2:
			for i, v := range g {
				dx[i] = 2 * v * x[i]
			}
		case 1:
			copy(dx, g)
		case 0:
			clear(dx)
		default:
			for i, v := range g {
				dx[i] = v * p * pow(x[i], p-1)
			}
		}
	}
}

// relu32 is ReLU without branches (random signs defeat branch prediction): the sign bit of each
// value masks its bits, so negatives and -0 become +0. Non-NaN results equal max(v, 0).
func relu32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		b := math.Float32bits(v)
		y[i] = math.Float32frombits(b & uint32(int32(^b)>>31))
	}
}

// reluGrad32 sets dx = g where x > 0 and 0 elsewhere (x = ±0 included), without branches.
func reluGrad32(x, g, dx []float32) {
	dx = dx[:len(g)]
	x = x[:len(g)]
	for i, v := range g {
		b := int32(math.Float32bits(x[i]))
		dx[i] = math.Float32frombits(math.Float32bits(v) & uint32((-b&^b)>>31))
	}
}

// dot returns Σ g[i]·v[iv+i·sv] in float64, with four independent accumulators.
func dot[T float](g, v []T, iv, sv int) float64 {
	if sv == 0 {
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(g); i += 4 {
			s0, s1, s2, s3 = s0+float64(g[i]), s1+float64(g[i+1]), s2+float64(g[i+2]), s3+float64(g[i+3])
		}
		for ; i < len(g); i++ {
			s0 += float64(g[i])
		}
		return ((s0 + s1) + (s2 + s3)) * float64(v[iv])
	}
	if sv == 1 {
		v = v[iv : iv+len(g)]
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(g); i += 4 {
			s0 += float64(g[i]) * float64(v[i])
			s1 += float64(g[i+1]) * float64(v[i+1])
			s2 += float64(g[i+2]) * float64(v[i+2])
			s3 += float64(g[i+3]) * float64(v[i+3])
		}
		for ; i < len(g); i++ {
			s0 += float64(g[i]) * float64(v[i])
		}
		return (s0 + s1) + (s2 + s3)
	}
	var s float64
	for i := range g {
		s += float64(g[i]) * float64(v[iv])
		iv += sv
	}
	return s
}

// dotStrided returns Σ g[i]·v[i·sv] over all of g, in parallel chunks whose partial sums are
// added in chunk order (the result does not depend on the number of workers: the chunks are
// fixed by len(g)).
func dotStrided[T float](g, v []T, sv int) float64 {
	chunks := (len(g) + minChunk - 1) / minChunk
	if chunks <= 1 {
		return dot(g, v, 0, sv)
	}
	parts := make([]float64, chunks)
	parallelN(chunks, min(runtime.GOMAXPROCS(0), chunks), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			a, e := c*minChunk, min((c+1)*minChunk, len(g))
			parts[c] = dot(g[a:e], v, a*sv, sv)
		}
	})
	var s float64
	for _, x := range parts {
		s += x
	}
	return s
}

// clipGrad32 sets dx = g where lo < x < hi and +0 elsewhere, without branches (ReLU6 inputs
// straddle the bounds at random).
func clipGrad32(x, g, dx []float32, lo, hi float32) {
	dx = dx[:len(g)]
	x = x[:len(g)]
	for i, v := range g {
		var in uint32
		if x[i] > lo {
			in = 1
		}
		var below uint32
		if x[i] < hi {
			below = 1
		}
		dx[i] = math.Float32frombits(math.Float32bits(v) & -(in & below))
	}
}
