package kernels

import (
	"fmt"
	"hash"
	"math"
	"unsafe"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPool returns the ONNX MaxPool of x (N×C×W or N×C×H×W); win.Kernel is required. Padding never
// wins the maximum. The gradient goes to the first maximal tap of each window (row-major order).
func MaxPool(x *gorgonia.Node, win Window) (*gorgonia.Node, error) {
	cfg, err := newPoolCfg("MaxPool", x, win)
	if err != nil {
		return nil, err
	}
	y, err := gorgonia.ApplyOp(&maxPoolOp{poolCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: MaxPool: %w", err)
	}
	return y, nil
}

// AveragePool returns the ONNX AveragePool of x (N×C×W or N×C×H×W); win.Kernel is required. With
// countIncludePad the divisor counts the window's taps inside the padded input (taps past the end
// padding, possible with CeilMode, are not counted); without it, only taps inside the input.
func AveragePool(x *gorgonia.Node, win Window, countIncludePad bool) (*gorgonia.Node, error) {
	cfg, err := newPoolCfg("AveragePool", x, win)
	if err != nil {
		return nil, err
	}
	cfg.includePad = countIncludePad
	y, err := gorgonia.ApplyOp(&avgPoolOp{poolCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: AveragePool: %w", err)
	}
	return y, nil
}

func newPoolCfg(name string, x *gorgonia.Node, win Window) (poolCfg, error) {
	if win.Kernel == nil {
		return poolCfg{}, fmt.Errorf("kernels: %s: kernel_shape is required", name)
	}
	xs := x.Shape()
	g, err := win.resolve(xs, nil)
	if err != nil {
		return poolCfg{}, fmt.Errorf("kernels: %s: %w", name, err)
	}
	c := poolCfg{g: g, xs: xs.Clone(), ys: g.outShape(g.c)}
	c.ry = spans(g.oh, g.sh, g.pt, g.pb, g.dh, g.kh, g.h)
	c.rx = spans(g.ow, g.sw, g.pl, g.pr, g.dw, g.kw, g.w)
	return c, nil
}

// poolCfg is the geometry shared by a pooling op and its gradient.
type poolCfg struct {
	g          geom
	xs, ys     tensor.Shape
	includePad bool
	ry, rx     []span // per output row / column: the window's taps
}

// span describes the taps of one output position along one axis: taps [lo, hi) fall inside the
// input, at input positions base + t·dilation; padded counts the taps inside the padded input.
type span struct {
	lo, hi, base, padded int
}

// spans computes the spans of out output positions along an axis.
func spans(out, s, padBegin, padEnd, d, k, size int) []span {
	sp := make([]span, out)
	for o := range sp {
		lo, hi := taps(o, s, padBegin, d, k, size)
		a, b := taps(o, s, 0, d, k, size+padBegin+padEnd)
		sp[o] = span{lo: lo, hi: hi, base: o*s - padBegin, padded: b - a}
	}
	return sp
}

func (c *poolCfg) String() string { return fmt.Sprintf("%v incpad%t", &c.g, c.includePad) }

func (c *poolCfg) cost() int { return c.g.oh * c.g.ow * c.g.kh * c.g.kw }

// taps returns the kernel taps [lo, hi) of output position o whose input position o·s−pad+t·d
// lies in [0, size).
func taps(o, s, pad, d, k, size int) (lo, hi int) {
	base := o*s - pad
	if base < 0 {
		lo = (-base + d - 1) / d
	}
	last := size - 1 - base
	if last < 0 {
		return 0, 0
	}
	hi = last/d + 1
	if hi > k {
		hi = k
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// maxPoolOp is the forward max pooling. It records each window's argmax for the gradient op,
// which checks every recorded position against the values it is given (and recomputes the
// positions that do not match), so a stale record costs time, never correctness.
type maxPoolOp struct {
	plain
	ob outBuf
	poolCfg
	mask []int32 // per output: argmax offset in its channel plane, −1 for an empty window
	// state is the lent buffer that holds mask (SwapState), nil when the op owns it.
	state *tensor.Dense
}

var _ gorgonia.SDOp = (*maxPoolOp)(nil)

func (op *maxPoolOp) Arity() int    { return 1 }
func (op *maxPoolOp) Type() hm.Type { return fnType(len(op.xs), len(op.xs)) }
func (op *maxPoolOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.ys, op.xs)
}
func (op *maxPoolOp) String() string        { return "MaxPool{" + op.poolCfg.String() + "}" }
func (op *maxPoolOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolOp) DiffWRT(n int) []bool  { return allTrue(n) }

func (op *maxPoolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs)
	if err != nil {
		return nil, err
	}
	if len(op.mask) != op.ys.TotalSize() {
		op.mask = make([]int32, op.ys.TotalSize())
	}
	if dt == tensor.Float32 {
		out, y := output[float32](&op.ob, op.ys, false)
		maxPool(&op.poolCfg, data[float32](in[0]), y, op.mask)
		return out, nil
	}
	out, y := output[float64](&op.ob, op.ys, false)
	maxPool(&op.poolCfg, data[float64](in[0]), y, op.mask)
	return out, nil
}

func (op *maxPoolOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	dx, err := gorgonia.ApplyOp(&maxPoolGradOp{poolCfg: op.poolCfg, fwd: op}, in[0], output, grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx}, nil
}

// maxPool computes the window maxima of x into y and their positions (the first maximal tap in
// row-major order) into mask. The loop is written so that the compiler emits conditional moves
// (MAXSS, CMOV): with branches, random data costs a misprediction every other tap.
func maxPool[T Float](c *poolCfg, x, y []T, mask []int32) {
	g := &c.g
	hw, p := g.h*g.w, g.oh*g.ow
	planes := g.n * g.c
	// The common 2×2, stride 2 pooling without padding has full windows only.
	pool2 := c.pool2x2()
	parallel(planes, workers(planes, c.cost()), func(_, lo, hi int) {
		if pool2 {
			for pl := lo; pl < hi; pl++ {
				maxPool2x2(g, x[pl*hw:(pl+1)*hw], y[pl*p:(pl+1)*p], mask[pl*p:(pl+1)*p])
			}
			return
		}
		for pl := lo; pl < hi; pl++ {
			xc := x[pl*hw : (pl+1)*hw]
			o := pl * p
			for _, ry := range c.ry {
				for _, rx := range c.rx {
					at := argmax(g, xc, ry, rx)
					if at < 0 {
						y[o] = lowest[T]()
					} else {
						y[o] = xc[at]
					}
					mask[o] = int32(at)
					o++
				}
			}
		}
	})
}

// lowest returns the most negative finite value of T: onnxruntime's MaxPool output for a window
// lying wholly in the padding.
func lowest[T Float]() T {
	var z T
	if unsafe.Sizeof(z) == 4 {
		v := -math.MaxFloat32
		return T(v)
	}
	v := -math.MaxFloat64
	return T(v)
}

// pool2x2 reports the common 2×2, stride 2 pooling without padding or dilation: windows are
// full and disjoint, and a trailing odd row or column belongs to none.
func (c *poolCfg) pool2x2() bool {
	g := &c.g
	return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 &&
		g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0
}

// maxPoolGrad2x2 writes the whole gradient plane dxc of a 2×2, stride-2 max pooling in one pass:
// each window's dy at its maximum (the recorded position when x holds y there, else the first
// maximal tap), zeros at its other taps and on a trailing row or column no window covers.
func maxPoolGrad2x2[T Float](c *poolCfg, xc, yc, dyc, dxc []T, mc []int32) {
	g := &c.g
	w := g.w
	for oy := 0; oy < g.oh; oy++ {
		r0, r1 := 2*oy*w, (2*oy+1)*w
		d0, d1 := dxc[r0:r0+w], dxc[r1:r1+w]
		for ox := 0; ox < g.ow; ox++ {
			o := oy*g.ow + ox
			k := 2 * ox
			d0[k], d0[k+1], d1[k], d1[k+1] = 0, 0, 0, 0
			at := int(mc[o])
			if at < 0 || at >= len(xc) || xc[at] != yc[o] {
				at = argmax(g, xc, c.ry[oy], c.rx[ox])
			}
			dxc[at] += dyc[o]
		}
		if w > 2*g.ow { // odd width: the last column is in no window
			d0[w-1], d1[w-1] = 0, 0
		}
	}
	if tail := 2 * g.oh * w; tail < len(dxc) { // odd height: the last row is in no window
		clear(dxc[tail:])
	}
}

// maxPool2x2 pools one channel plane with 2×2 windows at stride 2.
func maxPool2x2[T Float](g *geom, xc, yc []T, mc []int32) {
	w := g.w
	for oy := 0; oy < g.oh; oy++ {
		r0 := xc[2*oy*w : (2*oy+1)*w]
		r1 := xc[(2*oy+1)*w : (2*oy+2)*w]
		ys, ms := yc[oy*g.ow:(oy+1)*g.ow], mc[oy*g.ow:(oy+1)*g.ow]
		for ox := range ys {
			k := 2 * ox
			a, b, c, d := r0[k], r0[k+1], r1[k], r1[k+1]
			at, best := k, a
			if b > best {
				at = k + 1
			}
			best = max(best, b)
			if c > best {
				at = k + w
			}
			best = max(best, c)
			if d > best {
				at = k + w + 1
			}
			ys[ox], ms[ox] = max(best, d), int32(2*oy*w+at)
		}
	}
}

// argmax returns the position in the channel plane xc of the first maximal tap of a window, −1
// for a window without taps.
func argmax[T Float](g *geom, xc []T, ry, rx span) int {
	if ry.lo >= ry.hi || rx.lo >= rx.hi {
		return -1
	}
	dh, dw, w := g.dh, g.dw, g.w
	at := (ry.base+ry.lo*dh)*w + rx.base + rx.lo*dw
	best := xc[at]
	for i := ry.lo; i < ry.hi; i++ {
		row := (ry.base+i*dh)*w + rx.base
		if dw == 1 {
			k0 := row + rx.lo
			for j, v := range xc[k0 : row+rx.hi] {
				if v > best {
					at = k0 + j
				}
				best = max(best, v)
			}
			continue
		}
		for j := rx.lo; j < rx.hi; j++ {
			k := row + j*dw
			v := xc[k]
			if v > best {
				at = k
			}
			best = max(best, v)
		}
	}
	return at
}

// maxPoolGrad adds each dy to dx at its window's argmax: the forward op's recorded position when
// x holds the window's maximum y there, otherwise the recomputed one.
func maxPoolGrad[T Float](c *poolCfg, x, y, dy, dx []T, mask []int32) {
	g := &c.g
	hw, p := g.h*g.w, g.oh*g.ow
	planes := g.n * g.c
	pool2 := c.pool2x2()
	parallel(planes, workers(planes, p), func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xc, dxc := x[pl*hw:(pl+1)*hw], dx[pl*hw:(pl+1)*hw]
			if pool2 && len(mask) == planes*p {
				maxPoolGrad2x2(c, xc, y[pl*p:(pl+1)*p], dy[pl*p:(pl+1)*p], dxc, mask[pl*p:(pl+1)*p])
				continue
			}
			clear(dxc)
			o := pl * p
			for _, ry := range c.ry {
				for _, rx := range c.rx {
					at := -1
					if len(mask) > o {
						at = int(mask[o])
					}
					if at < 0 || at >= hw || xc[at] != y[o] {
						at = argmax(g, xc, ry, rx)
					}
					if at >= 0 {
						dxc[at] += dy[o]
					}
					o++
				}
			}
		}
	})
}

// maxPoolGradOp computes dL/dx from (x, y, dy), y the forward output.
type maxPoolGradOp struct {
	plain
	ob outBuf
	poolCfg
	fwd *maxPoolOp // whose argmax record it reads
}

func (op *maxPoolGradOp) Arity() int    { return 3 }
func (op *maxPoolGradOp) Type() hm.Type { r := len(op.xs); return fnType(r, r, r, r) }
func (op *maxPoolGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.xs, op.xs, op.ys, op.ys)
}
func (op *maxPoolGradOp) String() string {
	return fmt.Sprintf("MaxPoolGrad{%v of %p}", op.poolCfg.String(), op.fwd)
}
func (op *maxPoolGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *maxPoolGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *maxPoolGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs, op.ys, op.ys)
	if err != nil {
		return nil, err
	}
	var mask []int32
	if op.fwd != nil {
		mask = op.fwd.mask
	}
	if dt == tensor.Float32 {
		out, dx := output[float32](&op.ob, op.xs, false)
		maxPoolGrad(&op.poolCfg, data[float32](in[0]), data[float32](in[1]), data[float32](in[2]), dx, mask)
		return out, nil
	}
	out, dx := output[float64](&op.ob, op.xs, false)
	maxPoolGrad(&op.poolCfg, data[float64](in[0]), data[float64](in[1]), data[float64](in[2]), dx, mask)
	return out, nil
}

// avgPoolOp is the forward average pooling.
type avgPoolOp struct {
	plain
	ob outBuf
	poolCfg
}

var _ gorgonia.SDOp = (*avgPoolOp)(nil)

func (op *avgPoolOp) Arity() int    { return 1 }
func (op *avgPoolOp) Type() hm.Type { return fnType(len(op.xs), len(op.xs)) }
func (op *avgPoolOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.ys, op.xs)
}
func (op *avgPoolOp) String() string        { return "AveragePool{" + op.poolCfg.String() + "}" }
func (op *avgPoolOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *avgPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *avgPoolOp) DiffWRT(n int) []bool  { return allTrue(n) }

func (op *avgPoolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		out, y := output[float32](&op.ob, op.ys, true)
		avgPool(&op.poolCfg, data[float32](in[0]), y, false)
		return out, nil
	}
	out, y := output[float64](&op.ob, op.ys, true)
	avgPool(&op.poolCfg, data[float64](in[0]), y, false)
	return out, nil
}

func (op *avgPoolOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	dx, err := gorgonia.ApplyOp(&avgPoolGradOp{poolCfg: op.poolCfg}, grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx}, nil
}

// avgPool averages the windows of x into y, or, with back, spreads y (the output gradient) back
// over x (the input gradient, accumulated).
func avgPool[T Float](c *poolCfg, x, y []T, back bool) {
	g := &c.g
	hw, p := g.h*g.w, g.oh*g.ow
	planes := g.n * g.c
	parallel(planes, workers(planes, c.cost()), func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			xc := x[pl*hw : (pl+1)*hw]
			yc := y[pl*p : (pl+1)*p]
			o := 0
			for _, ry := range c.ry {
				for _, rx := range c.rx {
					cnt := (ry.hi - ry.lo) * (rx.hi - rx.lo)
					if c.includePad {
						cnt = ry.padded * rx.padded
					}
					if cnt == 0 || ry.lo >= ry.hi || rx.lo >= rx.hi {
						o++
						continue
					}
					inv := 1 / float64(cnt)
					if back {
						d := T(float64(yc[o]) * inv)
						for i := ry.lo; i < ry.hi; i++ {
							row := (ry.base+i*g.dh)*g.w + rx.base
							for j := rx.lo; j < rx.hi; j++ {
								xc[row+j*g.dw] += d
							}
						}
						o++
						continue
					}
					var s float64
					for i := ry.lo; i < ry.hi; i++ {
						row := (ry.base+i*g.dh)*g.w + rx.base
						for j := rx.lo; j < rx.hi; j++ {
							s += float64(xc[row+j*g.dw])
						}
					}
					yc[o] = T(s * inv)
					o++
				}
			}
		}
	})
}

// avgPoolGradOp computes dL/dx from dy.
type avgPoolGradOp struct {
	plain
	ob outBuf
	poolCfg
}

func (op *avgPoolGradOp) Arity() int    { return 1 }
func (op *avgPoolGradOp) Type() hm.Type { r := len(op.xs); return fnType(r, r) }
func (op *avgPoolGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.xs, op.ys)
}
func (op *avgPoolGradOp) String() string        { return "AveragePoolGrad{" + op.poolCfg.String() + "}" }
func (op *avgPoolGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *avgPoolGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *avgPoolGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.ys)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		out, dx := output[float32](&op.ob, op.xs, true)
		avgPool(&op.poolCfg, dx, data[float32](in[0]), true)
		return out, nil
	}
	out, dx := output[float64](&op.ob, op.xs, true)
	avgPool(&op.poolCfg, dx, data[float64](in[0]), true)
	return out, nil
}

// GlobalAveragePool returns the ONNX GlobalAveragePool of x (N×C×spatial…): the mean over the
// spatial dimensions, kept as size-1 dimensions.
func GlobalAveragePool(x *gorgonia.Node) (*gorgonia.Node, error) {
	xs := x.Shape()
	if len(xs) < 3 {
		return nil, fmt.Errorf("kernels: GlobalAveragePool: input shape %v: want N×C×spatial", xs)
	}
	ys := xs.Clone()
	for i := 2; i < len(ys); i++ {
		ys[i] = 1
	}
	y, err := gorgonia.ApplyOp(&gapOp{xs: xs.Clone(), ys: ys}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: GlobalAveragePool: %w", err)
	}
	return y, nil
}

// gapOp is GlobalAveragePool (back false) or its gradient (back true: input dy, output dx).
type gapOp struct {
	plain
	ob     outBuf
	xs, ys tensor.Shape
	back   bool
}

var _ gorgonia.SDOp = (*gapOp)(nil)

func (op *gapOp) Arity() int    { return 1 }
func (op *gapOp) Type() hm.Type { return fnType(len(op.xs), len(op.xs)) }
func (op *gapOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.xs, op.ys
	if op.back {
		in, out = out, in
	}
	return inferShape(op, ds, out, in)
}
func (op *gapOp) String() string        { return fmt.Sprintf("GlobalAveragePool{%v back%t}", op.xs, op.back) }
func (op *gapOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gapOp) Hashcode() uint32      { return hashOf(op) }
func (op *gapOp) DiffWRT(n int) []bool  { return allTrue(n) }

func (op *gapOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, out := op.xs, op.ys
	if op.back {
		in, out = out, in
	}
	d, dt, err := inputs(op, vs, in)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return gap[float32](op, data[float32](d[0]), out), nil
	}
	return gap[float64](op, data[float64](d[0]), out), nil
}

func gap[T Float](op *gapOp, in []T, shape tensor.Shape) *tensor.Dense {
	planes := op.xs[0] * op.xs[1]
	sp := prod(op.xs[2:])
	inv := 1 / float64(sp)
	out, o := output[T](&op.ob, shape, false)
	for p := 0; p < planes; p++ {
		if op.back {
			v := T(float64(in[p]) * inv)
			row := o[p*sp : (p+1)*sp]
			for i := range row {
				row[i] = v
			}
			continue
		}
		o[p] = T(sum(in[p*sp:(p+1)*sp]) * inv)
	}
	return out
}

func (op *gapOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.back || len(in) != 1 {
		return nil, fmt.Errorf("kernels: %v: SymDiff is not supported", op)
	}
	dx, err := gorgonia.ApplyOp(&gapOp{xs: op.xs, ys: op.ys, back: true}, grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx}, nil
}
