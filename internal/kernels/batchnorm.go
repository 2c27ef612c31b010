package kernels

import (
	"fmt"
	"hash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Mode selects which statistics a BatchNorm normalises with.
type Mode int32

const (
	// Eval normalises with the running statistics and never changes them.
	Eval Mode = iota
	// Train normalises with the batch statistics and then updates the running statistics.
	Train
	// TrainFrozen normalises with the batch statistics and leaves the running statistics alone.
	TrainFrozen
)

func (m Mode) String() string {
	switch m {
	case Eval:
		return "eval"
	case Train:
		return "train"
	case TrainFrozen:
		return "train-frozen"
	}
	return fmt.Sprintf("Mode(%d)", int32(m))
}

// BatchNorm is the state of one BatchNormalization node: its running statistics, constants and
// mode. Its methods are safe for concurrent use; the mode must not change between a forward pass
// and its backward pass.
type BatchNorm struct {
	// Name identifies the node in errors (the ONNX node name).
	Name string
	// Mean and Var are the running statistics (C elements each, the graph's float type). They are
	// updated in place by a forward pass in Train mode, so tensors shared between nets stay in step.
	Mean, Var *tensor.Dense
	// Momentum has the ONNX meaning: running = running·Momentum + batch·(1−Momentum).
	Momentum float64
	// Epsilon is added to the variance.
	Epsilon float64

	mode atomic.Int32
	mu   sync.Mutex // guards Mean and Var during updates and snapshots
}

// NewBatchNorm returns the state of a BatchNormalization node over running statistics mean and
// variance (float32 or float64 tensors of C elements, updated in place).
func NewBatchNorm(name string, mean, variance *tensor.Dense, momentum, epsilon float64, mode Mode) (*BatchNorm, error) {
	switch {
	case mean == nil || variance == nil:
		return nil, fmt.Errorf("kernels: BatchNorm %q: missing running statistics", name)
	case mean.Dtype() != variance.Dtype() || (mean.Dtype() != tensor.Float32 && mean.Dtype() != tensor.Float64):
		return nil, fmt.Errorf("kernels: BatchNorm %q: running statistics have types %v and %v, want one float type", name, mean.Dtype(), variance.Dtype())
	case mean.Shape().TotalSize() != variance.Shape().TotalSize() || mean.Shape().TotalSize() == 0:
		return nil, fmt.Errorf("kernels: BatchNorm %q: running mean shape %v and variance shape %v differ", name, mean.Shape(), variance.Shape())
	case mean.RequiresIterator() || variance.RequiresIterator():
		return nil, fmt.Errorf("kernels: BatchNorm %q: running statistics must be contiguous tensors", name)
	case !(epsilon >= 0) || math.IsInf(epsilon, 0) || !(momentum >= 0 && momentum <= 1):
		return nil, fmt.Errorf("kernels: BatchNorm %q: epsilon %g and momentum %g must be ≥ 0 and in [0, 1]", name, epsilon, momentum)
	case mode < Eval || mode > TrainFrozen:
		return nil, fmt.Errorf("kernels: BatchNorm %q: unknown mode %v", name, mode)
	}
	b := &BatchNorm{Name: name, Mean: mean, Var: variance, Momentum: momentum, Epsilon: epsilon}
	b.mode.Store(int32(mode))
	return b, nil
}

// SetMode switches the node between Eval, Train and TrainFrozen.
func (b *BatchNorm) SetMode(m Mode) { b.mode.Store(int32(m)) }

// Mode returns the current mode.
func (b *BatchNorm) Mode() Mode { return Mode(b.mode.Load()) }

// Channels returns the number of channels C.
func (b *BatchNorm) Channels() int { return b.Mean.Shape().TotalSize() }

// Stats returns a copy of the running mean and variance.
func (b *BatchNorm) Stats() (mean, variance []float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return toF64(b.Mean), toF64(b.Var)
}

// SetStats overwrites the running mean and variance (C elements each).
func (b *BatchNorm) SetStats(mean, variance []float64) error {
	c := b.Channels()
	if len(mean) != c || len(variance) != c {
		return fmt.Errorf("kernels: BatchNorm %q: SetStats got %d and %d values, want %d", b.Name, len(mean), len(variance), c)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fromF64(b.Mean, mean)
	fromF64(b.Var, variance)
	return nil
}

func toF64(d *tensor.Dense) []float64 {
	out := make([]float64, d.Shape().TotalSize())
	switch s := d.Data().(type) {
	case []float32:
		for i := range out {
			out[i] = float64(s[i])
		}
	case []float64:
		copy(out, s)
	}
	return out
}

func fromF64(d *tensor.Dense, v []float64) {
	switch s := d.Data().(type) {
	case []float32:
		for i := range v {
			s[i] = float32(v[i])
		}
	case []float64:
		copy(s, v)
	}
}

// BatchNormOf returns the BatchNorm state behind a node's op, if the op is the statistics op of a
// BatchNormalization built by this package. It lets a graph walk find every BatchNorm.
func BatchNormOf(op gorgonia.Op) (*BatchNorm, bool) {
	if s, ok := op.(*bnStatsOp); ok {
		return s.bn, true
	}
	return nil, false
}

// BatchNormalization returns the ONNX BatchNormalization of x (N×C×… with N·∏spatial values per
// channel) with scale and bias (C elements each), normalising as bn's mode says.
func BatchNormalization(x, scale, bias *gorgonia.Node, bn *BatchNorm) (*gorgonia.Node, error) {
	if bn == nil {
		return nil, fmt.Errorf("kernels: BatchNormalization: nil state")
	}
	xs := x.Shape()
	if len(xs) < 2 {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: input shape %v: want N×C×…", bn.Name, xs)
	}
	c := xs[1]
	if bn.Channels() != c || scale == nil || bias == nil || scale.Shape().TotalSize() != c || bias.Shape().TotalSize() != c {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: input %v needs scale, bias and running statistics of %d elements", bn.Name, xs, c)
	}
	if dt := x.Dtype(); dt != bn.Mean.Dtype() {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: input type %v, running statistics %v", bn.Name, dt, bn.Mean.Dtype())
	}
	cfg := bnCfg{bn: bn, xs: xs.Clone(), ss: scale.Shape().Clone(), bs: bias.Shape().Clone()}
	stats, err := gorgonia.ApplyOp(&bnStatsOp{bnCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: statistics: %w", bn.Name, err)
	}
	y, err := gorgonia.ApplyOp(&bnOp{bnCfg: cfg}, x, stats, scale, bias)
	if err != nil {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: %w", bn.Name, err)
	}
	return y, nil
}

// bnCfg is shared by the BatchNormalization ops.
type bnCfg struct {
	bn         *BatchNorm
	xs, ss, bs tensor.Shape
}

func (c *bnCfg) String() string { return fmt.Sprintf("%q@%p %v", c.bn.Name, c.bn, c.xs) }

func (c *bnCfg) statShape() tensor.Shape { return tensor.Shape{2, c.xs[1]} }

// dims returns images, channels and values per image and channel.
func (c *bnCfg) dims() (n, ch, sp int) { return c.xs[0], c.xs[1], prod(c.xs[2:]) }

// batchMode reports whether the current mode normalises with batch statistics.
func (c *bnCfg) batchMode() bool { return c.bn.Mode() != Eval }

// bnStatsOp computes the statistics a BatchNormalization normalises with: row 0 the means, row 1
// 1/sqrt(var+ε), batch or running ones according to the mode. In Train mode it also updates the
// running statistics.
type bnStatsOp struct {
	plain
	ob outBuf
	bnCfg
}

var _ gorgonia.SDOp = (*bnStatsOp)(nil)

func (op *bnStatsOp) Arity() int    { return 1 }
func (op *bnStatsOp) Type() hm.Type { return fnType(len(op.xs), 2) }
func (op *bnStatsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.statShape(), op.xs)
}
func (op *bnStatsOp) String() string        { return "BatchNormStats{" + op.bnCfg.String() + "}" }
func (op *bnStatsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *bnStatsOp) Hashcode() uint32      { return hashOf(op) }

// DiffWRT is false: the normalisation op's input gradient covers the path through the statistics.
func (op *bnStatsOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op *bnStatsOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("kernels: %v is not differentiated directly", op)
}

func (op *bnStatsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs)
	if err != nil {
		return nil, err
	}
	if dt != op.bn.Mean.Dtype() {
		return nil, fmt.Errorf("kernels: %v: input type %v, running statistics %v", op, dt, op.bn.Mean.Dtype())
	}
	if dt == tensor.Float32 {
		return bnStats[float32](op, data[float32](in[0]))
	}
	return bnStats[float64](op, data[float64](in[0]))
}

func bnStats[T Float](op *bnStatsOp, x []T) (*tensor.Dense, error) {
	bn := op.bn
	n, c, sp := op.dims()
	out, st := output[T](&op.ob, op.statShape(), false)
	mode := bn.Mode()
	bn.mu.Lock()
	defer bn.mu.Unlock()
	rm, rv := data[T](bn.Mean), data[T](bn.Var)
	if mode == Eval {
		for ch := 0; ch < c; ch++ {
			st[ch] = rm[ch]
			st[c+ch] = T(1 / math.Sqrt(float64(rv[ch])+bn.Epsilon))
		}
		return out, nil
	}
	m := n * sp
	if m < 2 && mode == Train {
		return nil, fmt.Errorf("kernels: BatchNormalization %q: training mode needs more than one value per channel, got input %v", bn.Name, op.xs)
	}
	variance := make([]float64, c)
	parallel(c, workers(c, 2*m), func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			// One pass, shifted by the channel's first value so that the sums of squares do not
			// cancel catastrophically; float64 accumulation.
			k := float64(x[ch*sp])
			s, q := chanShiftedSums(x, n, c, sp, ch, k)
			mean := k + s/float64(m)
			variance[ch] = math.Max(0, (q-s*s/float64(m))/float64(m))
			st[ch] = T(mean)
			st[c+ch] = T(1 / math.Sqrt(variance[ch]+bn.Epsilon))
		}
	})
	if mode == Train {
		mom := bn.Momentum
		unbias := float64(m) / float64(m-1)
		for ch := 0; ch < c; ch++ {
			rm[ch] = T(mom*float64(rm[ch]) + (1-mom)*float64(st[ch]))
			rv[ch] = T(mom*float64(rv[ch]) + (1-mom)*variance[ch]*unbias)
		}
	}
	return out, nil
}

// bnOp applies statistics: y = scale·(x−mean)·invstd + bias.
type bnOp struct {
	plain
	ob outBuf
	bnCfg
}

var _ gorgonia.SDOp = (*bnOp)(nil)

func (op *bnOp) Arity() int { return 4 }
func (op *bnOp) Type() hm.Type {
	r := len(op.xs)
	return fnType(r, 2, len(op.ss), len(op.bs), r)
}
func (op *bnOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.xs, op.xs, op.statShape(), op.ss, op.bs)
}
func (op *bnOp) String() string        { return "BatchNorm{" + op.bnCfg.String() + "}" }
func (op *bnOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *bnOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnOp) DiffWRT(n int) []bool  { return []bool{true, false, true, true} }

func (op *bnOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, bnApply[float32], bnApply[float64], op.xs, op.statShape(), op.ss, op.bs)
}

func bnApply[T Float](op *bnOp, in []*tensor.Dense) *tensor.Dense {
	x, st, scale, bias := data[T](in[0]), data[T](in[1]), data[T](in[2]), data[T](in[3])
	n, c, sp := op.dims()
	out, y := output[T](&op.ob, op.xs, false)
	parallel(c, workers(c, n*sp), func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			chanAffine(x, y, n, c, sp, ch, st[ch], T(float64(scale[ch])*float64(st[c+ch])), bias[ch])
		}
	})
	return out
}

func (op *bnOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	// One pass over (x, dy) gives Σdy and Σdy·x̂ per channel: the bias and scale gradients, and
	// what the input gradient needs.
	sums, err := gorgonia.ApplyOp(&bnGradSumsOp{bnCfg: op.bnCfg}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: gradient sums: %w", op, err)
	}
	dx, err := gorgonia.ApplyOp(&bnGradInputOp{bnCfg: op.bnCfg}, in[0], in[1], in[2], grad, sums)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	ds, err := gorgonia.ApplyOp(&rowOp{in: op.statShape(), row: 1, out: op.ss}, sums)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: scale gradient: %w", op, err)
	}
	db, err := gorgonia.ApplyOp(&rowOp{in: op.statShape(), row: 0, out: op.bs}, sums)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: bias gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx, nil, ds, db}, nil
}

// bnGradSumsOp computes, from (x, stats, dy), row 0: Σdy and row 1: Σdy·x̂ per channel, with
// x̂ = (x−mean)·invstd.
type bnGradSumsOp struct {
	plain
	ob outBuf
	bnCfg
}

func (op *bnGradSumsOp) Arity() int    { return 3 }
func (op *bnGradSumsOp) Type() hm.Type { r := len(op.xs); return fnType(r, 2, r, 2) }
func (op *bnGradSumsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.statShape(), op.xs, op.statShape(), op.xs)
}
func (op *bnGradSumsOp) String() string        { return "BatchNormGradSums{" + op.bnCfg.String() + "}" }
func (op *bnGradSumsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *bnGradSumsOp) Hashcode() uint32      { return hashOf(op) }

func (op *bnGradSumsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, bnGradSums[float32], bnGradSums[float64], op.xs, op.statShape(), op.xs)
}

func bnGradSums[T Float](op *bnGradSumsOp, in []*tensor.Dense) *tensor.Dense {
	x, st, dy := data[T](in[0]), data[T](in[1]), data[T](in[2])
	n, c, sp := op.dims()
	out, sums := output[T](&op.ob, op.statShape(), false)
	parallel(c, workers(c, 2*n*sp), func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean := st[ch]
			sdy, sdyx := chanCentredDot(dy, x, n, c, sp, ch, mean)
			sums[ch] = T(sdy)
			sums[c+ch] = T(sdyx * float64(st[c+ch]))
		}
	})
	return out
}

// bnGradInputOp computes dL/dx from (x, stats, scale, dy, sums): in the batch-statistics modes the
// full backward through the mean and variance, in Eval mode dy·scale·invstd.
type bnGradInputOp struct {
	plain
	ob outBuf
	bnCfg
}

func (op *bnGradInputOp) shapes() []tensor.Shape {
	return []tensor.Shape{op.xs, op.statShape(), op.ss, op.xs, op.statShape()}
}
func (op *bnGradInputOp) Arity() int { return 5 }
func (op *bnGradInputOp) Type() hm.Type {
	r := len(op.xs)
	return fnType(r, 2, len(op.ss), r, 2, r)
}
func (op *bnGradInputOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.xs, op.shapes()...)
}
func (op *bnGradInputOp) String() string        { return "BatchNormGradInput{" + op.bnCfg.String() + "}" }
func (op *bnGradInputOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *bnGradInputOp) Hashcode() uint32      { return hashOf(op) }

func (op *bnGradInputOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, bnGradInput[float32], bnGradInput[float64], op.shapes()...)
}

func bnGradInput[T Float](op *bnGradInputOp, in []*tensor.Dense) *tensor.Dense {
	x, st, scale, dy, sums := data[T](in[0]), data[T](in[1]), data[T](in[2]), data[T](in[3]), data[T](in[4])
	n, c, sp := op.dims()
	m := float64(n * sp)
	batch := op.batchMode()
	out, dx := output[T](&op.ob, op.xs, false)
	parallel(c, workers(c, 3*n*sp), func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, inv := st[ch], float64(st[c+ch])
			a := float64(scale[ch]) * inv
			var sdy, sdyx float64
			if batch {
				sdy, sdyx = float64(sums[ch]), float64(sums[c+ch])
			}
			// dx = a·(dy − Σdy/m − x̂·Σ(dy·x̂)/m) = a·dy − k·(x−mean) − b with k = a·invstd·Σ(dy·x̂)/m
			// and b = a·Σdy/m (k = b = 0 with running statistics, which do not depend on x).
			chanGradInput(dy, x, dx, n, c, sp, ch, T(a), T(a*inv*sdyx/m), mean, T(a*sdy/m))
		}
	})
	return out
}

// rowOp copies row `row` of a 2×C tensor into a tensor of shape out (C elements).
type rowOp struct {
	plain
	ob      outBuf
	in, out tensor.Shape
	row     int
}

func (op *rowOp) Arity() int    { return 1 }
func (op *rowOp) Type() hm.Type { return fnType(2, len(op.out)) }
func (op *rowOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.out, op.in)
}
func (op *rowOp) String() string        { return fmt.Sprintf("Row%d{%v→%v}", op.row, op.in, op.out) }
func (op *rowOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *rowOp) Hashcode() uint32      { return hashOf(op) }

func (op *rowOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.in)
	if err != nil {
		return nil, err
	}
	c := op.in[1]
	if dt == tensor.Float32 {
		out, o := output[float32](&op.ob, op.out, false)
		copy(o, data[float32](in[0])[op.row*c:(op.row+1)*c])
		return out, nil
	}
	out, o := output[float64](&op.ob, op.out, false)
	copy(o, data[float64](in[0])[op.row*c:(op.row+1)*c])
	return out, nil
}

// The per-channel loops below visit channel ch's plane of sp values in each of the n images
// (stride c·sp). Where the build has them (bnSIMD), float32 data goes through C copies that
// process 8 values at a time with AVX2 (batchnorm_cgo.go): same formulas, the sums accumulated in
// float64 in another order.

// chanShiftedSums returns Σ(x−k) and Σ(x−k)² over channel ch.
func chanShiftedSums[T Float](x []T, n, c, sp, ch int, k float64) (s, q float64) {
	if x32, ok := any(x).([]float32); ok && bnSIMD {
		return chanShiftedSums32(x32, n, c, sp, ch, k)
	}
	for i := 0; i < n; i++ {
		o := (i*c + ch) * sp
		ds, dq := shiftedSums(x[o:o+sp], k)
		s += ds
		q += dq
	}
	return s, q
}

// chanCentredDot returns Σdy and Σdy·(x−mean) over channel ch.
func chanCentredDot[T Float](dy, x []T, n, c, sp, ch int, mean T) (sdy, sdyx float64) {
	if dy32, ok := any(dy).([]float32); ok && bnSIMD {
		return chanCentredDot32(dy32, any(x).([]float32), n, c, sp, ch, float32(mean))
	}
	for i := 0; i < n; i++ {
		o := (i*c + ch) * sp
		a, b := centredDot(dy[o:o+sp], x[o:o+sp], mean)
		sdy += a
		sdyx += b
	}
	return sdy, sdyx
}

// chanAffine sets y = (x−mean)·a + b over channel ch.
func chanAffine[T Float](x, y []T, n, c, sp, ch int, mean, a, b T) {
	if x32, ok := any(x).([]float32); ok && bnSIMD {
		chanAffine32(x32, any(y).([]float32), n, c, sp, ch, float32(mean), float32(a), float32(b))
		return
	}
	for i := 0; i < n; i++ {
		o := (i*c + ch) * sp
		xs, ys := x[o:o+sp], y[o:o+sp]
		for j, v := range xs {
			ys[j] = (v-mean)*a + b
		}
	}
}

// chanGradInput sets dx = a·dy − k·(x−mean) − b over channel ch.
func chanGradInput[T Float](dy, x, dx []T, n, c, sp, ch int, a, k, mean, b T) {
	if dy32, ok := any(dy).([]float32); ok && bnSIMD {
		chanGradInput32(dy32, any(x).([]float32), any(dx).([]float32), n, c, sp, ch, float32(a), float32(k), float32(mean), float32(b))
		return
	}
	for i := 0; i < n; i++ {
		o := (i*c + ch) * sp
		xs, ds, dxs := x[o:o+sp], dy[o:o+sp], dx[o:o+sp]
		for j, d := range ds {
			dxs[j] = a*d - k*(xs[j]-mean) - b
		}
	}
}

// shiftedSums returns Σ(x−k) and Σ(x−k)² in float64. Four independent accumulator pairs keep the
// additions from waiting on each other (one chain costs the add latency per element).
func shiftedSums[T Float](x []T, k float64) (s, q float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := float64(x[i])-k, float64(x[i+1])-k, float64(x[i+2])-k, float64(x[i+3])-k
		s0, s1, s2, s3 = s0+d0, s1+d1, s2+d2, s3+d3
		q0, q1, q2, q3 = q0+d0*d0, q1+d1*d1, q2+d2*d2, q3+d3*d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - k
		s0 += d
		q0 += d * d
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// centredDot returns Σdy and Σdy·(x−mean) in float64 (x as long as dy), with independent
// accumulators as shiftedSums.
func centredDot[T Float](dy, x []T, mean T) (sdy, sdyx float64) {
	x = x[:len(dy)]
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	i := 0
	for ; i+4 <= len(dy); i += 4 {
		g0, g1, g2, g3 := float64(dy[i]), float64(dy[i+1]), float64(dy[i+2]), float64(dy[i+3])
		a0, a1, a2, a3 = a0+g0, a1+g1, a2+g2, a3+g3
		b0 += g0 * float64(x[i]-mean)
		b1 += g1 * float64(x[i+1]-mean)
		b2 += g2 * float64(x[i+2]-mean)
		b3 += g3 * float64(x[i+3]-mean)
	}
	for ; i < len(dy); i++ {
		g := float64(dy[i])
		a0 += g
		b0 += g * float64(x[i]-mean)
	}
	return (a0 + a1) + (a2 + a3), (b0 + b1) + (b2 + b3)
}
