package kernels

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GroupNormalization returns the group normalization of x (shape N×C×D1×…×Dn, rank ≥ 2): the C
// channels are split into groups consecutive groups of C/groups channels, and every (example,
// group) block is normalised with its own mean and population variance,
// y = (x−mean)/sqrt(var+epsilon)·scale + bias. Statistics are accumulated in float64 whatever the
// input type.
//
// scale and bias are 1-D-like tensors of either C elements (one value per channel: ONNX
// InstanceNormalization and GroupNormalization from opset 21) or groups elements (one value per
// group, shared by all the channels of the group: ONNX GroupNormalization opset 18); when
// groups = C the two readings coincide. nil scale means ones and nil bias zeros.
// InstanceNormalization is GroupNormalization with groups = C.
func GroupNormalization(x, scale, bias *gorgonia.Node, groups int, epsilon float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	if len(xs) < 2 {
		return nil, fmt.Errorf("kernels: GroupNormalization: input shape %v, want N×C×… (rank ≥ 2)", xs)
	}
	c := xs[1]
	if groups <= 0 || c%groups != 0 {
		return nil, fmt.Errorf("kernels: GroupNormalization: %d groups do not divide %d channels", groups, c)
	}
	if !(epsilon >= 0) || math.IsInf(epsilon, 0) {
		return nil, fmt.Errorf("kernels: GroupNormalization: epsilon %g must be ≥ 0", epsilon)
	}
	cfg := gnCfg{xs: xs.Clone(), groups: groups, cpg: c / groups, sp: prod(xs[2:]), eps: epsilon, params: c}
	cfg.rows, cfg.d = xs[0]*groups, cfg.cpg*cfg.sp
	if cfg.rows == 0 || cfg.d == 0 {
		return nil, fmt.Errorf("kernels: GroupNormalization: empty input shape %v", xs)
	}
	set := false
	for _, p := range []struct {
		name string
		n    *gorgonia.Node
		s    *tensor.Shape
	}{{"scale", scale, &cfg.ss}, {"bias", bias, &cfg.bs}} {
		if p.n == nil {
			continue
		}
		size := p.n.Shape().TotalSize()
		if size != c && size != groups {
			return nil, fmt.Errorf("kernels: GroupNormalization: %s shape %v, want %d (channels) or %d (groups) elements", p.name, p.n.Shape(), c, groups)
		}
		if set && size != cfg.params {
			return nil, fmt.Errorf("kernels: GroupNormalization: scale has %d elements and bias %d", cfg.params, size)
		}
		cfg.params, set = size, true
		*p.s = p.n.Shape().Clone()
	}
	stats, err := gorgonia.ApplyOp(&gnStatsOp{gnCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: GroupNormalization: statistics: %w", err)
	}
	children := []*gorgonia.Node{x, stats}
	for _, n := range []*gorgonia.Node{scale, bias} {
		if n != nil {
			children = append(children, n)
		}
	}
	y, err := gorgonia.ApplyOp(&gnOp{gnCfg: cfg}, children...)
	if err != nil {
		return nil, fmt.Errorf("kernels: GroupNormalization: %w", err)
	}
	return y, nil
}

// gnCfg is shared by the GroupNormalization ops. The input is rows = N·groups blocks of
// d = cpg·sp contiguous elements (cpg channels of sp elements each).
type gnCfg struct {
	xs      tensor.Shape
	ss, bs  tensor.Shape // nil when absent
	groups  int
	cpg, sp int
	rows, d int
	// params is the number of scale and bias values: C (per channel) or groups (per group).
	params int
	eps    float64
}

func (c *gnCfg) String() string {
	return fmt.Sprintf("%v groups%d eps%g scale%v bias%v", c.xs, c.groups, c.eps, c.ss, c.bs)
}

func (c *gnCfg) statShape() tensor.Shape { return tensor.Shape{2, c.rows} }

// param returns the index of the scale and bias value of channel k (0 ≤ k < cpg) of row r.
func (c *gnCfg) param(r, k int) int {
	g := r % c.groups
	if c.params == c.groups {
		return g
	}
	return g*c.cpg + k
}

// gnStatsOp computes the block means (row 0) and 1/sqrt(var+ε) (row 1).
type gnStatsOp struct {
	plain
	ob outBuf
	gnCfg
}

var _ gorgonia.SDOp = (*gnStatsOp)(nil)

func (op *gnStatsOp) Arity() int    { return 1 }
func (op *gnStatsOp) Type() hm.Type { return fnType(len(op.xs), 2) }
func (op *gnStatsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	if err := shapeArg(op, ds, 0, op.xs); err != nil {
		return nil, err
	}
	return op.statShape(), nil
}
func (op *gnStatsOp) String() string        { return "GroupNormStats{" + op.gnCfg.String() + "}" }
func (op *gnStatsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gnStatsOp) Hashcode() uint32      { return hashOf(op) }

// DiffWRT is false: the normalisation op's input gradient covers the path through the statistics.
func (op *gnStatsOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *gnStatsOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("kernels: %v is not differentiated directly", op)
}

func (op *gnStatsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return gnStats[float32](op, data[float32](in[0])), nil
	}
	return gnStats[float64](op, data[float64](in[0])), nil
}

func gnStats[T Float](op *gnStatsOp, x []T) *tensor.Dense {
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

// gnOp applies the statistics: inputs x, stats, then scale and bias when present.
type gnOp struct {
	plain
	ob outBuf
	gnCfg
}

var _ gorgonia.SDOp = (*gnOp)(nil)

func (op *gnOp) shapes() []tensor.Shape {
	return shapesOf(op.xs, op.statShape(), op.ss, op.bs)
}
func (op *gnOp) Arity() int { return len(op.shapes()) }
func (op *gnOp) Type() hm.Type {
	var ranks []int
	for _, s := range op.shapes() {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(op.xs))...)
}
func (op *gnOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	for i, s := range op.shapes() {
		if err := shapeArg(op, ds, i, s); err != nil {
			return nil, err
		}
	}
	return op.xs.Clone(), nil
}
func (op *gnOp) String() string        { return "GroupNorm{" + op.gnCfg.String() + "}" }
func (op *gnOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gnOp) Hashcode() uint32      { return hashOf(op) }
func (op *gnOp) DiffWRT(n int) []bool {
	d := allTrue(n)
	if n > 1 {
		d[1] = false
	}
	return d
}

func (op *gnOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.shapes()...)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return gnApply[float32](op, in), nil
	}
	return gnApply[float64](op, in), nil
}

// gnAffine returns the scale and bias slices (nil when absent) from the inputs after x and stats.
func gnAffine[T Float](c *gnCfg, in []*tensor.Dense) (scale, bias []T) {
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

func gnApply[T Float](op *gnOp, in []*tensor.Dense) *tensor.Dense {
	x, st := data[T](in[0]), data[T](in[1])
	scale, bias := gnAffine[T](&op.gnCfg, in)
	out, y := output[T](&op.ob, op.xs, false)
	d, sp := op.d, op.sp
	parallel(op.rows, workers(op.rows, d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], st[op.rows+r]
			for k := 0; k < op.cpg; k++ {
				// Per channel: y = (x−mean)·a + b with a = inv·scale, b = bias.
				a, b := inv, T(0)
				p := op.param(r, k)
				if scale != nil {
					a *= scale[p]
				}
				if bias != nil {
					b = bias[p]
				}
				off := r*d + k*sp
				xs, ys := x[off:off+sp], y[off:off+sp]
				for j, v := range xs {
					ys[j] = (v-mean)*a + b
				}
			}
		}
	})
	return out
}

func (op *gnOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	gin := gorgonia.Nodes{in[0], in[1]}
	if op.ss != nil {
		gin = append(gin, in[2])
	}
	dx, err := gorgonia.ApplyOp(&gnGradOp{gnCfg: op.gnCfg, which: gnGradX}, append(gin, grad)...)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	out := gorgonia.Nodes{dx, nil}
	if op.ss != nil {
		ds, err := gorgonia.ApplyOp(&gnGradOp{gnCfg: op.gnCfg, which: gnGradScale}, in[0], in[1], grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: scale gradient: %w", op, err)
		}
		out = append(out, ds)
	}
	if op.bs != nil {
		db, err := gorgonia.ApplyOp(&gnGradOp{gnCfg: op.gnCfg, which: gnGradBias}, grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: bias gradient: %w", op, err)
		}
		out = append(out, db)
	}
	return out, nil
}

// gnGradOp is one of the GroupNormalization gradients.
type gnGradOp struct {
	plain
	ob outBuf
	gnCfg
	which gnGrad
}

type gnGrad int

const (
	gnGradX     gnGrad = iota // (x, stats, [scale], dy) → dx
	gnGradScale               // (x, stats, dy) → dscale
	gnGradBias                // (dy) → dbias
)

func (op *gnGradOp) shapes() ([]tensor.Shape, tensor.Shape) {
	switch op.which {
	case gnGradX:
		return shapesOf(op.xs, op.statShape(), op.ss, op.xs), op.xs
	case gnGradScale:
		return []tensor.Shape{op.xs, op.statShape(), op.xs}, op.ss
	default:
		return []tensor.Shape{op.xs}, op.bs
	}
}

func (op *gnGradOp) Arity() int { in, _ := op.shapes(); return len(in) }
func (op *gnGradOp) Type() hm.Type {
	in, out := op.shapes()
	var ranks []int
	for _, s := range in {
		ranks = append(ranks, len(s))
	}
	return fnType(append(ranks, len(out))...)
}
func (op *gnGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.shapes()
	for i, s := range in {
		if err := shapeArg(op, ds, i, s); err != nil {
			return nil, err
		}
	}
	return out.Clone(), nil
}
func (op *gnGradOp) String() string {
	return fmt.Sprintf("GroupNormGrad%d{%v}", op.which, op.gnCfg.String())
}
func (op *gnGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gnGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *gnGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	ins, _ := op.shapes()
	in, dt, err := inputs(op, vs, ins...)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return gnGradient[float32](op, in), nil
	}
	return gnGradient[float64](op, in), nil
}

func gnGradient[T Float](op *gnGradOp, in []*tensor.Dense) *tensor.Dense {
	switch op.which {
	case gnGradBias:
		out, db := output[T](&op.ob, op.bs, false)
		gnParamSums(&op.gnCfg, data[T](in[0]), nil, nil, db)
		return out
	case gnGradScale:
		out, ds := output[T](&op.ob, op.ss, false)
		gnParamSums(&op.gnCfg, data[T](in[2]), data[T](in[0]), data[T](in[1]), ds)
		return out
	}
	x, st := data[T](in[0]), data[T](in[1])
	var scale []T
	if op.ss != nil {
		scale = data[T](in[2])
	}
	dy := data[T](in[len(in)-1])
	out, dx := output[T](&op.ob, op.xs, false)
	d, sp, rows := op.d, op.sp, op.rows
	fd := float64(d)
	parallel(rows, workers(rows, 3*d), func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			mean, inv := st[r], float64(st[rows+r])
			// g = dy·scale; dx = inv·(g − Σg/d − x̂·Σ(g·x̂)/d).
			var sg, sgx float64
			for k := 0; k < op.cpg; k++ {
				off := r*d + k*sp
				var a, b float64
				for j, v := range dy[off : off+sp] {
					a += float64(v)
					b += float64(v) * float64(x[off+j]-mean)
				}
				if scale != nil {
					s := float64(scale[op.param(r, k)])
					a, b = a*s, b*s
				}
				sg += a
				sgx += b
			}
			sgx *= inv
			kx, c := T(inv*inv*sgx/fd), T(inv*sg/fd)
			for k := 0; k < op.cpg; k++ {
				f := T(inv)
				if scale != nil {
					f *= scale[op.param(r, k)]
				}
				off := r*d + k*sp
				xs, dxs := x[off:off+sp], dx[off:off+sp]
				for j, v := range dy[off : off+sp] {
					dxs[j] = f*v - kx*(xs[j]-mean) - c
				}
			}
		}
	})
	return out
}

// gnParamSums adds dy (or, with x and the statistics, dy·x̂ with x̂ = (x−mean)·invstd) over every
// element that shares a scale and bias value, into out (params elements).
func gnParamSums[T Float](c *gnCfg, dy, x, st []T, out []T) {
	acc := make([]float64, c.params)
	for r := 0; r < c.rows; r++ {
		var mean T
		var inv float64
		if x != nil {
			mean, inv = st[r], float64(st[c.rows+r])
		}
		for k := 0; k < c.cpg; k++ {
			off := r*c.d + k*c.sp
			var s float64
			if x == nil {
				s = sum(dy[off : off+c.sp])
			} else {
				for j, v := range dy[off : off+c.sp] {
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
