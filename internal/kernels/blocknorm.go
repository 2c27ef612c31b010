package kernels

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// normCfg describes a block normalisation, the core of LayerNormalization and
// GroupNormalization: the input is rows blocks of d contiguous elements, each normalised with its
// own mean and population variance, y = (x−mean)/sqrt(var+eps)·scale + bias.
//
// A block is segs segments of seg contiguous elements. With perElem, scale and bias hold one value
// per element of the block (LayerNormalization: the block is one segment); otherwise every
// segment shares one value, param(r, k) (GroupNormalization: a segment is one channel of a group).
type normCfg struct {
	name      string // op name prefix: "LayerNorm" or "GroupNorm"
	attr      string // the op's distinguishing attribute, as printed by String
	xs        tensor.Shape
	ss, bs    tensor.Shape // nil when absent
	rows, d   int
	segs, seg int
	perElem   bool
	// Without perElem: params is the number of scale and bias values, groups·segs (one per
	// channel) or groups (one per group); block r belongs to group r mod groups.
	groups, params int
	eps            float64
}

func (c *normCfg) String() string {
	return fmt.Sprintf("%v %s eps%g scale%v bias%v", c.xs, c.attr, c.eps, c.ss, c.bs)
}

func (c *normCfg) statShape() tensor.Shape { return tensor.Shape{2, c.rows} }

// param returns the index of the scale and bias value of segment k of block r (not perElem).
func (c *normCfg) param(r, k int) int {
	g := r % c.groups
	if c.params == c.groups {
		return g
	}
	return g*c.segs + k
}

// blockNorm builds the statistics node and the normalisation node of cfg over x; api names the
// public function in errors.
func blockNorm(api string, cfg normCfg, x, scale, bias *gorgonia.Node) (*gorgonia.Node, error) {
	stats, err := gorgonia.ApplyOp(&normStatsOp{normCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: %s: statistics: %w", api, err)
	}
	children := []*gorgonia.Node{x, stats}
	for _, n := range []*gorgonia.Node{scale, bias} {
		if n != nil {
			children = append(children, n)
		}
	}
	y, err := gorgonia.ApplyOp(&normOp{normCfg: cfg}, children...)
	if err != nil {
		return nil, fmt.Errorf("kernels: %s: %w", api, err)
	}
	return y, nil
}

// normStatsOp computes the block means (row 0) and 1/sqrt(var+ε) (row 1).
type normStatsOp struct {
	plain
	ob outBuf
	normCfg
}

var _ gorgonia.SDOp = (*normStatsOp)(nil)

func (op *normStatsOp) Arity() int    { return 1 }
func (op *normStatsOp) Type() hm.Type { return fnType(len(op.xs), 2) }
func (op *normStatsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.statShape(), op.xs)
}
func (op *normStatsOp) String() string        { return op.name + "Stats{" + op.normCfg.String() + "}" }
func (op *normStatsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normStatsOp) Hashcode() uint32      { return hashOf(op) }

// DiffWRT is false: the normalisation op's input gradient covers the path through the statistics.
func (op *normStatsOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *normStatsOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("kernels: %v is not differentiated directly", op)
}

func (op *normStatsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, normStats[float32], normStats[float64], op.xs)
}

func normStats[T Float](op *normStatsOp, in []*tensor.Dense) *tensor.Dense {
	x := data[T](in[0])
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

// normOp applies the statistics: inputs x, stats, then scale and bias when present.
type normOp struct {
	plain
	ob outBuf
	normCfg
}

var _ gorgonia.SDOp = (*normOp)(nil)

func (op *normOp) shapes() []tensor.Shape {
	return shapesOf(op.xs, op.statShape(), op.ss, op.bs)
}
func (op *normOp) Arity() int { return len(op.shapes()) }
func (op *normOp) Type() hm.Type {
	var ranks []int
	for _, s := range op.shapes() {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(op.xs))...)
}
func (op *normOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.xs, op.shapes()...)
}
func (op *normOp) String() string        { return op.name + "{" + op.normCfg.String() + "}" }
func (op *normOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normOp) Hashcode() uint32      { return hashOf(op) }
func (op *normOp) DiffWRT(n int) []bool {
	d := allTrue(n)
	if n > 1 {
		d[1] = false
	}
	return d
}

func (op *normOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, normApply[float32], normApply[float64], op.shapes()...)
}

// affine returns the scale and bias slices (nil when absent) from the inputs after x and stats.
func affine[T Float](c *normCfg, in []*tensor.Dense) (scale, bias []T) {
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

func normApply[T Float](op *normOp, in []*tensor.Dense) *tensor.Dense {
	x, st := data[T](in[0]), data[T](in[1])
	scale, bias := affine[T](&op.normCfg, in)
	out, y := output[T](&op.ob, op.xs, false)
	d, seg := op.d, op.seg
	parallel(op.rows, workers(op.rows, d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], st[op.rows+r]
			if op.perElem {
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
				continue
			}
			for k := 0; k < op.segs; k++ {
				// Per segment: y = (x−mean)·a + b with a = inv·scale, b = bias.
				a, b := inv, T(0)
				p := op.param(r, k)
				if scale != nil {
					a *= scale[p]
				}
				if bias != nil {
					b = bias[p]
				}
				off := r*d + k*seg
				xs, ys := x[off:off+seg], y[off:off+seg]
				for j, v := range xs {
					ys[j] = (v-mean)*a + b
				}
			}
		}
	})
	return out
}

func (op *normOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	gin := gorgonia.Nodes{in[0], in[1]}
	if op.ss != nil {
		gin = append(gin, in[2])
	}
	dx, err := gorgonia.ApplyOp(&normGradOp{normCfg: op.normCfg, which: normGradX}, append(gin, grad)...)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	out := gorgonia.Nodes{dx, nil}
	if op.ss != nil {
		ds, err := gorgonia.ApplyOp(&normGradOp{normCfg: op.normCfg, which: normGradScale}, in[0], in[1], grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: scale gradient: %w", op, err)
		}
		out = append(out, ds)
	}
	if op.bs != nil {
		db, err := gorgonia.ApplyOp(&normGradOp{normCfg: op.normCfg, which: normGradBias}, grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: bias gradient: %w", op, err)
		}
		out = append(out, db)
	}
	return out, nil
}

// normGradOp is one of the block normalisation gradients.
type normGradOp struct {
	plain
	ob outBuf
	normCfg
	which normGrad
}

type normGrad int

const (
	normGradX     normGrad = iota // (x, stats, [scale], dy) → dx
	normGradScale                 // (x, stats, dy) → dscale
	normGradBias                  // (dy) → dbias
)

func (op *normGradOp) shapes() ([]tensor.Shape, tensor.Shape) {
	switch op.which {
	case normGradX:
		return shapesOf(op.xs, op.statShape(), op.ss, op.xs), op.xs
	case normGradScale:
		return []tensor.Shape{op.xs, op.statShape(), op.xs}, op.ss
	default:
		return []tensor.Shape{op.xs}, op.bs
	}
}

func (op *normGradOp) Arity() int { in, _ := op.shapes(); return len(in) }
func (op *normGradOp) Type() hm.Type {
	in, out := op.shapes()
	var ranks []int
	for _, s := range in {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(out))...)
}
func (op *normGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.shapes()
	return inferShape(op, ds, out, in...)
}
func (op *normGradOp) String() string {
	return fmt.Sprintf("%sGrad%d{%v}", op.name, op.which, op.normCfg.String())
}
func (op *normGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *normGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, _ := op.shapes()
	return do(op, vs, normGradient[float32], normGradient[float64], in...)
}

func normGradient[T Float](op *normGradOp, in []*tensor.Dense) *tensor.Dense {
	switch op.which {
	case normGradBias:
		out, db := output[T](&op.ob, op.bs, false)
		normParamSums(&op.normCfg, data[T](in[0]), nil, nil, db)
		return out
	case normGradScale:
		out, ds := output[T](&op.ob, op.ss, false)
		normParamSums(&op.normCfg, data[T](in[2]), data[T](in[0]), data[T](in[1]), ds)
		return out
	}
	x, st := data[T](in[0]), data[T](in[1])
	var scale []T
	if op.ss != nil {
		scale = data[T](in[2])
	}
	dy := data[T](in[len(in)-1])
	out, dx := output[T](&op.ob, op.xs, false)
	d, seg, rows := op.d, op.seg, op.rows
	fd := float64(d)
	parallel(rows, workers(rows, 3*d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], float64(st[rows+r])
			xs, dys, dxs := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
			// g = dy·scale; dx = inv·(g − Σg/d − x̂·Σ(g·x̂)/d).
			var sg, sgx float64
			if op.perElem {
				for j, v := range dys {
					g := float64(v)
					if scale != nil {
						g *= float64(scale[j])
					}
					sg += g
					sgx += g * float64(xs[j]-mean)
				}
			} else {
				for k := 0; k < op.segs; k++ {
					var a, b float64
					for j, v := range dys[k*seg : (k+1)*seg] {
						a += float64(v)
						b += float64(v) * float64(xs[k*seg+j]-mean)
					}
					if scale != nil {
						s := float64(scale[op.param(r, k)])
						a, b = a*s, b*s
					}
					sg += a
					sgx += b
				}
			}
			sgx *= inv
			kx, c := T(inv*inv*sgx/fd), T(inv*sg/fd)
			if op.perElem {
				invT := T(inv)
				for j, v := range dys {
					if scale != nil {
						v *= scale[j]
					}
					dxs[j] = invT*v - kx*(xs[j]-mean) - c
				}
				continue
			}
			for k := 0; k < op.segs; k++ {
				f := T(inv)
				if scale != nil {
					f *= scale[op.param(r, k)]
				}
				lo, hi := k*seg, (k+1)*seg
				xk, dxk := xs[lo:hi], dxs[lo:hi]
				for j, v := range dys[lo:hi] {
					dxk[j] = f*v - kx*(xk[j]-mean) - c
				}
			}
		}
	})
	return out
}

// normParamSums adds dy (or, with x and the statistics, dy·x̂ with x̂ = (x−mean)·invstd) over every
// element that shares a scale and bias value, into out (params elements).
func normParamSums[T Float](c *normCfg, dy, x, st []T, out []T) {
	acc := make([]float64, c.params)
	for r := 0; r < c.rows; r++ {
		var mean T
		var inv float64
		if x != nil {
			mean, inv = st[r], float64(st[c.rows+r])
		}
		if c.perElem {
			dys := dy[r*c.d : (r+1)*c.d]
			if x == nil {
				for j, v := range dys {
					acc[j] += float64(v)
				}
				continue
			}
			xs := x[r*c.d : (r+1)*c.d]
			for j, v := range dys {
				acc[j] += float64(v) * float64(xs[j]-mean) * inv
			}
			continue
		}
		for k := 0; k < c.segs; k++ {
			off := r*c.d + k*c.seg
			var s float64
			if x == nil {
				s = sum(dy[off : off+c.seg])
			} else {
				for j, v := range dy[off : off+c.seg] {
					s += float64(v) * float64(x[off+j]-mean)
				}
				s *= inv
			}
			acc[c.param(r, k)] += s
		}
	}
	for j, v := range acc {
		out[j] = T(v)
	}
}
