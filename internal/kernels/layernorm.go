package kernels

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LayerNormalization returns the ONNX LayerNormalization (opset 17) of x, normalising over the
// dimensions axis…end (axis may be negative) with the population variance:
// y = (x−mean)/sqrt(var+epsilon)·scale + bias. scale and bias hold prod(shape[axis:]) elements
// (usually of shape x.shape[axis:]); nil scale means ones and nil bias zeros. Statistics are
// accumulated in float64 whatever the input type.
func LayerNormalization(x, scale, bias *gorgonia.Node, axis int, epsilon float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	r := len(xs)
	if axis < 0 {
		axis += r
	}
	if r == 0 || axis < 0 || axis >= r {
		return nil, fmt.Errorf("kernels: LayerNormalization: axis out of range for input shape %v", xs)
	}
	if !(epsilon >= 0) || math.IsInf(epsilon, 0) {
		return nil, fmt.Errorf("kernels: LayerNormalization: epsilon %g must be ≥ 0", epsilon)
	}
	cfg := lnCfg{xs: xs.Clone(), rows: prod(xs[:axis]), d: prod(xs[axis:]), axis: axis, eps: epsilon}
	if cfg.d == 0 || cfg.rows == 0 {
		return nil, fmt.Errorf("kernels: LayerNormalization: empty input shape %v", xs)
	}
	for _, p := range []struct {
		name string
		n    *gorgonia.Node
		s    *tensor.Shape
	}{{"scale", scale, &cfg.ss}, {"bias", bias, &cfg.bs}} {
		if p.n == nil {
			continue
		}
		if p.n.Shape().TotalSize() != cfg.d {
			return nil, fmt.Errorf("kernels: LayerNormalization: %s shape %v, want %d elements (input %v, axis %d)", p.name, p.n.Shape(), cfg.d, xs, axis)
		}
		*p.s = p.n.Shape().Clone()
	}
	stats, err := gorgonia.ApplyOp(&lnStatsOp{lnCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: LayerNormalization: statistics: %w", err)
	}
	children := []*gorgonia.Node{x, stats}
	for _, n := range []*gorgonia.Node{scale, bias} {
		if n != nil {
			children = append(children, n)
		}
	}
	y, err := gorgonia.ApplyOp(&lnOp{lnCfg: cfg}, children...)
	if err != nil {
		return nil, fmt.Errorf("kernels: LayerNormalization: %w", err)
	}
	return y, nil
}

// lnCfg is shared by the LayerNormalization ops: the input is rows×d.
type lnCfg struct {
	xs      tensor.Shape
	ss, bs  tensor.Shape // nil when absent
	rows, d int
	axis    int
	eps     float64
}

func (c *lnCfg) String() string {
	return fmt.Sprintf("%v axis%d eps%g scale%v bias%v", c.xs, c.axis, c.eps, c.ss, c.bs)
}

func (c *lnCfg) statShape() tensor.Shape { return tensor.Shape{2, c.rows} }

// lnStatsOp computes row means (row 0) and 1/sqrt(var+ε) (row 1).
type lnStatsOp struct {
	plain
	ob outBuf
	lnCfg
}

var _ gorgonia.SDOp = (*lnStatsOp)(nil)

func (op *lnStatsOp) Arity() int    { return 1 }
func (op *lnStatsOp) Type() hm.Type { return fnType(len(op.xs), 2) }
func (op *lnStatsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := shapeArg(op, ds, 0, op.xs); err != nil {
		return nil, err
	}
	return op.statShape(), nil
}
func (op *lnStatsOp) String() string        { return "LayerNormStats{" + op.lnCfg.String() + "}" }
func (op *lnStatsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *lnStatsOp) Hashcode() uint32      { return hashOf(op) }

// DiffWRT is false: the normalisation op's input gradient covers the path through the statistics.
func (op *lnStatsOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *lnStatsOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("kernels: %v is not differentiated directly", op)
}

func (op *lnStatsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return lnStats[float32](op, data[float32](in[0])), nil
	}
	return lnStats[float64](op, data[float64](in[0])), nil
}

func lnStats[T Float](op *lnStatsOp, x []T) *tensor.Dense {
	out, st := output[T](&op.ob, op.statShape(), false)
	d := op.d
	parallel(op.rows, workers(op.rows, 2*d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*d : (r+1)*d]
			mean := sum(row) / float64(d)
			var q float64
			for _, v := range row {
				e := float64(v) - mean
				q += e * e
			}
			st[r] = T(mean)
			st[op.rows+r] = T(1 / math.Sqrt(q/float64(d)+op.eps))
		}
	})
	return out
}

// lnOp applies the statistics: inputs x, stats, then scale and bias when present.
type lnOp struct {
	plain
	ob outBuf
	lnCfg
}

var _ gorgonia.SDOp = (*lnOp)(nil)

func (op *lnOp) shapes() []tensor.Shape {
	return shapesOf(op.xs, op.statShape(), op.ss, op.bs)
}
func (op *lnOp) Arity() int { return len(op.shapes()) }
func (op *lnOp) Type() hm.Type {
	var ranks []int
	for _, s := range op.shapes() {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(op.xs))...)
}
func (op *lnOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	for i, s := range op.shapes() {
		if err := shapeArg(op, ds, i, s); err != nil {
			return nil, err
		}
	}
	return op.xs.Clone(), nil
}
func (op *lnOp) String() string        { return "LayerNorm{" + op.lnCfg.String() + "}" }
func (op *lnOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *lnOp) Hashcode() uint32      { return hashOf(op) }
func (op *lnOp) DiffWRT(n int) []bool {
	d := allTrue(n)
	if n > 1 {
		d[1] = false
	}
	return d
}

func (op *lnOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.shapes()...)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return lnApply[float32](op, in), nil
	}
	return lnApply[float64](op, in), nil
}

// affine returns the scale and bias slices (nil when absent) from the inputs after x and stats.
func affine[T Float](c *lnCfg, in []*tensor.Dense) (scale, bias []T) {
	i := 2
	if c.ss != nil {
		scale = data[T](in[i])
		i++
	}
	if c.bs != nil {
		bias = data[T](in[i])
	}
	return scale, bias
}

func lnApply[T Float](op *lnOp, in []*tensor.Dense) *tensor.Dense {
	x, st := data[T](in[0]), data[T](in[1])
	scale, bias := affine[T](&op.lnCfg, in)
	out, y := output[T](&op.ob, op.xs, false)
	d := op.d
	parallel(op.rows, workers(op.rows, d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], st[op.rows+r]
			xs, ys := x[r*d:(r+1)*d], y[r*d:(r+1)*d]
			for j, v := range xs {
				z := (v - mean) * inv
				if scale != nil {
					z *= scale[j]
				}
				if bias != nil {
					z += bias[j]
				}
				ys[j] = z
			}
		}
	})
	return out
}

func (op *lnOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	gin := gorgonia.Nodes{in[0], in[1]}
	if op.ss != nil {
		gin = append(gin, in[2])
	}
	dx, err := gorgonia.ApplyOp(&lnGradOp{lnCfg: op.lnCfg, which: lnGradX}, append(gin, grad)...)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	out := gorgonia.Nodes{dx, nil}
	if op.ss != nil {
		ds, err := gorgonia.ApplyOp(&lnGradOp{lnCfg: op.lnCfg, which: lnGradScale}, in[0], in[1], grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: scale gradient: %w", op, err)
		}
		out = append(out, ds)
	}
	if op.bs != nil {
		db, err := gorgonia.ApplyOp(&lnGradOp{lnCfg: op.lnCfg, which: lnGradBias}, grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: bias gradient: %w", op, err)
		}
		out = append(out, db)
	}
	return out, nil
}

// lnGradOp is one of the LayerNormalization gradients.
type lnGradOp struct {
	plain
	ob outBuf
	lnCfg
	which lnGrad
}

type lnGrad int

const (
	lnGradX     lnGrad = iota // (x, stats, [scale], dy) → dx
	lnGradScale               // (x, stats, dy) → dscale
	lnGradBias                // (dy) → dbias
)

func (op *lnGradOp) shapes() ([]tensor.Shape, tensor.Shape) {
	switch op.which {
	case lnGradX:
		return shapesOf(op.xs, op.statShape(), op.ss, op.xs), op.xs
	case lnGradScale:
		return []tensor.Shape{op.xs, op.statShape(), op.xs}, op.ss
	default:
		return []tensor.Shape{op.xs}, op.bs
	}
}

func (op *lnGradOp) Arity() int { in, _ := op.shapes(); return len(in) }
func (op *lnGradOp) Type() hm.Type {
	in, out := op.shapes()
	var ranks []int
	for _, s := range in {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(out))...)
}
func (op *lnGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.shapes()
	for i, s := range in {
		if err := shapeArg(op, ds, i, s); err != nil {
			return nil, err
		}
	}
	return out.Clone(), nil
}
func (op *lnGradOp) String() string {
	return fmt.Sprintf("LayerNormGrad%d{%v}", op.which, op.lnCfg.String())
}
func (op *lnGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *lnGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *lnGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	ins, _ := op.shapes()
	in, dt, err := inputs(op, vs, ins...)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return lnGradient[float32](op, in), nil
	}
	return lnGradient[float64](op, in), nil
}

func lnGradient[T Float](op *lnGradOp, in []*tensor.Dense) *tensor.Dense {
	d, rows := op.d, op.rows
	switch op.which {
	case lnGradBias:
		dy := data[T](in[0])
		out, db := output[T](&op.ob, op.bs, false)
		colSum(dy, rows, d, db, nil, nil)
		return out
	case lnGradScale:
		x, st, dy := data[T](in[0]), data[T](in[1]), data[T](in[2])
		out, ds := output[T](&op.ob, op.ss, false)
		colSum(dy, rows, d, ds, x, st)
		return out
	}
	x, st := data[T](in[0]), data[T](in[1])
	var scale []T
	if op.ss != nil {
		scale = data[T](in[2])
	}
	dy := data[T](in[len(in)-1])
	out, dx := output[T](&op.ob, op.xs, false)
	fd := float64(d)
	parallel(rows, workers(rows, 3*d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], float64(st[rows+r])
			xs, ds, dxs := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
			// g = dy·scale; dx = inv·(g − Σg/d − x̂·Σ(g·x̂)/d).
			var sg, sgx float64
			for j, v := range ds {
				g := float64(v)
				if scale != nil {
					g *= float64(scale[j])
				}
				sg += g
				sgx += g * float64(xs[j]-mean)
			}
			sgx *= inv
			k, b := T(inv*inv*sgx/fd), T(inv*sg/fd)
			invT := T(inv)
			for j, v := range ds {
				if scale != nil {
					v *= scale[j]
				}
				dxs[j] = invT*v - k*(xs[j]-mean) - b
			}
		}
	})
	return out
}

// colSum adds the rows of a rows×d matrix dy into out (d elements); with x and stats it adds
// dy·x̂ instead, x̂ = (x−mean)·invstd.
func colSum[T Float](dy []T, rows, d int, out []T, x, st []T) {
	acc := make([]float64, d)
	for r := 0; r < rows; r++ {
		ds := dy[r*d : (r+1)*d]
		if x == nil {
			for j, v := range ds {
				acc[j] += float64(v)
			}
			continue
		}
		mean, inv := st[r], float64(st[rows+r])
		xs := x[r*d : (r+1)*d]
		for j, v := range ds {
			acc[j] += float64(v) * float64(xs[j]-mean) * inv
		}
	}
	for j, v := range acc {
		out[j] = T(v)
	}
}
