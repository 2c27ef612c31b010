package kernels

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GridSample returns the ONNX GridSample of x (N×C×H×W) at grid (N×Ho×Wo×2, last axis (x, y) in
// [−1, 1]) with bilinear interpolation and zero padding: output N×C×Ho×Wo. With alignCorners
// −1 and 1 are the centres of the corner pixels; without, they are the outer edges of the corner
// pixels. It is differentiable with respect to both x and grid, so a loss can be differentiated
// through the sampling positions (and hence through the parameters of an affine transform that
// produced them).
func GridSample(x, grid *gorgonia.Node, alignCorners bool) (*gorgonia.Node, error) {
	xs, gs := x.Shape(), grid.Shape()
	if len(xs) != 4 {
		return nil, fmt.Errorf("kernels: GridSample: input shape %v, want N×C×H×W", xs)
	}
	if len(gs) != 4 || gs[3] != 2 || gs[0] != xs[0] {
		return nil, fmt.Errorf("kernels: GridSample: grid shape %v, want %d×Ho×Wo×2 for input shape %v", gs, xs[0], xs)
	}
	cfg := gridCfg{xs: xs.Clone(), gs: gs.Clone(), ys: tensor.Shape{xs[0], xs[1], gs[1], gs[2]}, align: alignCorners}
	y, err := gorgonia.ApplyOp(&gridSampleOp{gridCfg: cfg}, x, grid)
	if err != nil {
		return nil, fmt.Errorf("kernels: GridSample: %w", err)
	}
	return y, nil
}

// gridCfg is the geometry shared by GridSample and its gradients.
type gridCfg struct {
	xs, gs, ys tensor.Shape
	align      bool
}

func (c *gridCfg) String() string {
	return fmt.Sprintf("x%v grid%v align%t", c.xs, c.gs, c.align)
}

// cost is the work per image, for worker counts.
func (c *gridCfg) cost() int { return 8 * c.xs[1] * c.gs[1] * c.gs[2] }

// unnormalize maps a grid coordinate to a pixel coordinate along an axis of the given size and
// returns d(pixel)/d(grid).
func (c *gridCfg) unnormalize(g float64, size int) (pix, scale float64) {
	if c.align {
		scale = float64(size-1) / 2
		return (g + 1) * scale, scale
	}
	scale = float64(size) / 2
	return ((g+1)*float64(size) - 1) / 2, scale
}

// tap is one of the four bilinear neighbours of a sampling position: its offset in a channel plane
// (−1 when outside the input, i.e. zero padding) and its weight.
type tap struct {
	at int
	w  float64
}

// corners returns the bilinear taps of pixel position (ix, iy) in an h×w plane and the
// fractional parts (fx, fy); ok is false when no tap lies inside (or the position is not finite).
func corners(ix, iy float64, h, w int) (t [4]tap, fx, fy float64, x0, y0 int, ok bool) {
	if math.IsNaN(ix) || math.IsNaN(iy) || ix <= -1 || iy <= -1 || ix >= float64(w) || iy >= float64(h) {
		return t, 0, 0, 0, 0, false
	}
	fx0, fy0 := math.Floor(ix), math.Floor(iy)
	x0, y0 = int(fx0), int(fy0)
	fx, fy = ix-fx0, iy-fy0
	for k, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} { // (dy, dx)
		yy, xx := y0+d[0], x0+d[1]
		wy, wx := 1-fy, 1-fx
		if d[0] == 1 {
			wy = fy
		}
		if d[1] == 1 {
			wx = fx
		}
		t[k] = tap{at: -1, w: wy * wx}
		if yy >= 0 && yy < h && xx >= 0 && xx < w {
			t[k].at = yy*w + xx
		}
	}
	return t, fx, fy, x0, y0, true
}

// gridSample computes the forward pass (y non-nil), the input gradient (dx non-nil, accumulated
// from dy) or the grid gradient (dgrid non-nil, from x and dy).
func gridSample[T Float](c *gridCfg, x, grid, y, dy, dx, dgrid []T) {
	n, ch, h, w := c.xs[0], c.xs[1], c.xs[2], c.xs[3]
	ho, wo := c.gs[1], c.gs[2]
	plane, p := h*w, ho*wo
	parallel(n, workers(n, c.cost()), func(_, lo, hi int) {
		for b := lo; b < hi; b++ {
			for o := 0; o < p; o++ {
				gi := 2 * (b*p + o)
				ix, sx := c.unnormalize(float64(grid[gi]), w)
				iy, sy := c.unnormalize(float64(grid[gi+1]), h)
				t, fx, fy, _, _, ok := corners(ix, iy, h, w)
				if !ok {
					continue
				}
				var gx, gy float64
				for k := 0; k < ch; k++ {
					base := (b*ch + k) * plane
					out := (b*ch+k)*p + o
					switch {
					case y != nil:
						var s float64
						for _, tp := range t {
							if tp.at >= 0 {
								s += tp.w * float64(x[base+tp.at])
							}
						}
						y[out] = T(s)
					case dx != nil:
						g := float64(dy[out])
						for _, tp := range t {
							if tp.at >= 0 {
								dx[base+tp.at] += T(tp.w * g)
							}
						}
					default:
						var v [4]float64 // values at the taps, 0 outside
						for i, tp := range t {
							if tp.at >= 0 {
								v[i] = float64(x[base+tp.at])
							}
						}
						g := float64(dy[out])
						// v: (y0,x0), (y0,x1), (y1,x0), (y1,x1)
						gx += g * ((v[1]-v[0])*(1-fy) + (v[3]-v[2])*fy)
						gy += g * ((v[2]-v[0])*(1-fx) + (v[3]-v[1])*fx)
					}
				}
				if dgrid != nil {
					dgrid[gi] = T(gx * sx)
					dgrid[gi+1] = T(gy * sy)
				}
			}
		}
	})
}

// gridSampleOp is the forward sampling.
type gridSampleOp struct {
	plain
	gridCfg
}

var _ gorgonia.SDOp = (*gridSampleOp)(nil)

func (op *gridSampleOp) Arity() int    { return 2 }
func (op *gridSampleOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *gridSampleOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.ys, op.xs, op.gs)
}
func (op *gridSampleOp) String() string        { return "GridSample{" + op.gridCfg.String() + "}" }
func (op *gridSampleOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gridSampleOp) Hashcode() uint32      { return hashOf(op) }
func (op *gridSampleOp) DiffWRT(n int) []bool  { return allTrue(n) }

func (op *gridSampleOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.xs, op.gs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		out, y := newDense[float32](op.ys)
		gridSample(&op.gridCfg, data[float32](in[0]), data[float32](in[1]), y, nil, nil, nil)
		return out, nil
	}
	out, y := newDense[float64](op.ys)
	gridSample(&op.gridCfg, data[float64](in[0]), data[float64](in[1]), y, nil, nil, nil)
	return out, nil
}

func (op *gridSampleOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	dx, err := gorgonia.ApplyOp(&gridSampleGradOp{gridCfg: op.gridCfg, wrtGrid: false}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	dg, err := gorgonia.ApplyOp(&gridSampleGradOp{gridCfg: op.gridCfg, wrtGrid: true}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: grid gradient: %w", op, err)
	}
	return gorgonia.Nodes{dx, dg}, nil
}

// gridSampleGradOp computes dL/dx (wrtGrid false) or dL/dgrid (wrtGrid true) from (x, grid, dy).
// The input gradient does not read x's values, but takes x so that both gradients have one
// signature.
type gridSampleGradOp struct {
	plain
	gridCfg
	wrtGrid bool
}

func (op *gridSampleGradOp) Arity() int    { return 3 }
func (op *gridSampleGradOp) Type() hm.Type { return fnType(4, 4, 4, 4) }
func (op *gridSampleGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	out := op.xs
	if op.wrtGrid {
		out = op.gs
	}
	return inferShape(op, ds, out, op.xs, op.gs, op.ys)
}
func (op *gridSampleGradOp) String() string {
	return fmt.Sprintf("GridSampleGrad{%v wrtGrid%t}", op.gridCfg.String(), op.wrtGrid)
}
func (op *gridSampleGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gridSampleGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *gridSampleGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return do(op, vs, gridSampleGrad[float32], gridSampleGrad[float64], op.xs, op.gs, op.ys)
}

func gridSampleGrad[T Float](op *gridSampleGradOp, in []*tensor.Dense) *tensor.Dense {
	x, grid, dy := data[T](in[0]), data[T](in[1]), data[T](in[2])
	if op.wrtGrid {
		out, dg := newDense[T](op.gs)
		gridSample(&op.gridCfg, x, grid, nil, dy, nil, dg)
		return out
	}
	out, dx := newDense[T](op.xs)
	gridSample(&op.gridCfg, nil, grid, nil, dy, dx, nil)
	return out
}
