package kernels

import (
	"fmt"
	"hash"
	"math"
	"strings"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Resize describes a nearest-neighbour ONNX Resize (the roi input is not supported).
type Resize struct {
	// Scales has one factor per input dimension; the output size is floor(size·scale). Ignored
	// when Sizes is set.
	Scales []float64
	// Sizes has one output size per input dimension; the scale of a dimension is then
	// output/input.
	Sizes []int
	// CoordinateTransformationMode is half_pixel (default), asymmetric, align_corners,
	// pytorch_half_pixel or tf_half_pixel_for_nn.
	CoordinateTransformationMode string
	// NearestMode is round_prefer_floor (default), round_prefer_ceil, floor or ceil.
	NearestMode string
}

// ResizeNearest returns the nearest-neighbour resize of x. Its gradient adds each output gradient
// onto the input element it was copied from.
func ResizeNearest(x *gorgonia.Node, r Resize) (*gorgonia.Node, error) {
	xs := x.Shape()
	ctm, nm := r.CoordinateTransformationMode, r.NearestMode
	if ctm == "" {
		ctm = "half_pixel"
	}
	if nm == "" {
		nm = "round_prefer_floor"
	}
	ys := make(tensor.Shape, len(xs))
	scales := make([]float64, len(xs))
	switch {
	case r.Sizes != nil:
		if len(r.Sizes) != len(xs) {
			return nil, fmt.Errorf("kernels: Resize: %d sizes for input shape %v", len(r.Sizes), xs)
		}
		for i, s := range r.Sizes {
			ys[i] = s
			scales[i] = float64(s) / float64(xs[i])
		}
	case r.Scales != nil:
		if len(r.Scales) != len(xs) {
			return nil, fmt.Errorf("kernels: Resize: %d scales for input shape %v", len(r.Scales), xs)
		}
		for i, s := range r.Scales {
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("kernels: Resize: scale %g must be positive", s)
			}
			ys[i] = int(math.Floor(float64(xs[i]) * s))
			scales[i] = s
		}
	default:
		return nil, fmt.Errorf("kernels: Resize: neither scales nor sizes given")
	}
	idx := make([][]int, len(xs))
	for d := range xs {
		if ys[d] < 1 {
			return nil, fmt.Errorf("kernels: Resize: output shape %v has an empty dimension", ys)
		}
		idx[d] = make([]int, ys[d])
		for o := range idx[d] {
			src, err := nearestSource(o, xs[d], ys[d], scales[d], ctm, nm)
			if err != nil {
				return nil, fmt.Errorf("kernels: Resize: %w", err)
			}
			idx[d][o] = src
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v→%v %s %s scales%v", xs, ys, ctm, nm, scales)
	cfg := resizeCfg{xs: xs.Clone(), ys: ys, idx: idx, desc: sb.String()}
	y, err := gorgonia.ApplyOp(&resizeOp{resizeCfg: cfg}, x)
	if err != nil {
		return nil, fmt.Errorf("kernels: Resize: %w", err)
	}
	return y, nil
}

// nearestSource maps output coordinate o of a dimension (in → out elements) to its input index.
func nearestSource(o, in, out int, scale float64, ctm, nm string) (int, error) {
	x := float64(o)
	var c float64
	switch ctm {
	case "half_pixel":
		c = (x+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if out > 1 {
			c = (x+0.5)/scale - 0.5
		}
	case "align_corners":
		if out > 1 {
			c = x * float64(in-1) / float64(out-1)
		}
	case "asymmetric":
		c = x / scale
	case "tf_half_pixel_for_nn":
		c = (x + 0.5) / scale
	default:
		return 0, fmt.Errorf("coordinate_transformation_mode %q is not supported", ctm)
	}
	var i float64
	switch nm {
	case "round_prefer_floor":
		if f := math.Floor(c); c == f+0.5 {
			i = f
		} else {
			i = math.Round(c)
		}
	case "round_prefer_ceil":
		if f := math.Floor(c); c == f+0.5 {
			i = f + 1
		} else {
			i = math.Round(c)
		}
	case "floor":
		i = math.Floor(c)
	case "ceil":
		i = math.Ceil(c)
	default:
		return 0, fmt.Errorf("nearest_mode %q is not supported", nm)
	}
	return int(math.Min(math.Max(i, 0), float64(in-1))), nil
}

type resizeCfg struct {
	xs, ys tensor.Shape
	idx    [][]int // per dimension: output index → input index
	desc   string
}

// resizeOp is the resize (back false: x → y) or its gradient (back true: dy → dx).
type resizeOp struct {
	plain
	ob outBuf
	resizeCfg
	back bool
}

var _ gorgonia.SDOp = (*resizeOp)(nil)

func (op *resizeOp) io() (in, out tensor.Shape) {
	if op.back {
		return op.ys, op.xs
	}
	return op.xs, op.ys
}

func (op *resizeOp) Arity() int    { return 1 }
func (op *resizeOp) Type() hm.Type { return fnType(len(op.xs), len(op.xs)) }
func (op *resizeOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.io()
	return inferShape(op, ds, out, in)
}
func (op *resizeOp) String() string        { return fmt.Sprintf("ResizeNearest{%s back%t}", op.desc, op.back) }
func (op *resizeOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *resizeOp) Hashcode() uint32      { return hashOf(op) }
func (op *resizeOp) DiffWRT(n int) []bool  { return allTrue(n) }

func (op *resizeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, out := op.io()
	d, dt, err := inputs(op, vs, in)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return resize[float32](op, data[float32](d[0]), out), nil
	}
	return resize[float64](op, data[float64](d[0]), out), nil
}

func resize[T Float](op *resizeOp, in []T, shape tensor.Shape) *tensor.Dense {
	res, out := output[T](&op.ob, shape, op.back)
	x, y := in, out
	if op.back {
		x, y = out, in
	}
	nd := len(op.xs)
	xst, yst := make([]int, nd), make([]int, nd)
	xst[nd-1], yst[nd-1] = 1, 1
	for d := nd - 2; d >= 0; d-- {
		xst[d], yst[d] = xst[d+1]*op.xs[d+1], yst[d+1]*op.ys[d+1]
	}
	var walk func(d, xo, yo int)
	walk = func(d, xo, yo int) {
		idx := op.idx[d]
		if d == nd-1 {
			ys := y[yo : yo+len(idx)]
			if op.back {
				for o, i := range idx {
					x[xo+i] += ys[o]
				}
				return
			}
			for o, i := range idx {
				ys[o] = x[xo+i]
			}
			return
		}
		for o, i := range idx {
			walk(d+1, xo+i*xst[d], yo+o*yst[d])
		}
	}
	walk(0, 0, 0)
	return res
}

func (op *resizeOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.back || len(in) != 1 {
		return nil, fmt.Errorf("kernels: %v: SymDiff is not supported", op)
	}
	dx, err := gorgonia.ApplyOp(&resizeOp{resizeCfg: op.resizeCfg, back: true}, grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx}, nil
}
