package executor

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// LRN (local response normalization across channels, as Caffe-era classifiers converted by
// paddle2onnx and tf2onnx use it): y = x / (bias + alpha/size · Σ x²)^beta, the sum over the
// channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉ at the same position.
func init() { register("LRN", buildLRN) }

func buildLRN(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	s := x.Shape()
	if s.Dims() < 3 {
		return fmt.Errorf("%v: input shape %v: want N×C×…", n, s)
	}
	sz := int(n.Int("size", 0))
	if sz < 1 {
		return fmt.Errorf("%v: attribute size must be ≥ 1", n)
	}
	c := lrnCfg{n: s[0], c: s[1], inner: size(s[2:]), lo: (sz - 1) / 2, hi: sz / 2,
		alpha: spatialFloat(n, "alpha", 1e-4) / float64(sz), beta: spatialFloat(n, "beta", 0.75), bias: spatialFloat(n, "bias", 1)}
	op := &lrnOp{opBase: newOpBase("LRN", b.dt, s, x), cfg: c}
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// lrnCfg is the geometry and constants of an LRN: the window of channel c is [c−lo, c+hi], alpha
// is already divided by size.
type lrnCfg struct {
	n, c, inner       int
	lo, hi            int
	alpha, beta, bias float64
}

// scale returns s = bias + alpha·Σ x² over the window of channel ch at (image, position).
func lrnScale[T float](c *lrnCfg, x []T, img, ch, pos int) float64 {
	var sum float64
	for k := max(0, ch-c.lo); k <= min(c.c-1, ch+c.hi); k++ {
		v := float64(x[(img*c.c+k)*c.inner+pos])
		sum += v * v
	}
	return c.bias + c.alpha*sum
}

type lrnOp struct {
	opBase
	cfg lrnCfg
}

func lrnForward[T float](c *lrnCfg, x, y []T) {
	for img := 0; img < c.n; img++ {
		for ch := 0; ch < c.c; ch++ {
			for pos := 0; pos < c.inner; pos++ {
				i := (img*c.c+ch)*c.inner + pos
				y[i] = T(float64(x[i]) * math.Pow(lrnScale(c, x, img, ch, pos), -c.beta))
			}
		}
	}
}

func (op *lrnOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		lrnForward(&op.cfg, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		lrnForward(&op.cfg, in[0], out)
		return nil
	})
}

func (op *lrnOp) DiffWRT(int) []bool { return []bool{true} }

func (op *lrnOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &lrnGradOp{opBase: newOpBase("LRNGrad", op.dt, op.out, inputs[0], grad), cfg: op.cfg}
	g.zero = true
	n, err := gorgonia.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// lrnGradOp computes dx from x and dy: dx_j = dy_j·s_j^−β − 2αβ·x_j·Σ_i dy_i·x_i·s_i^(−β−1), i
// over the channels whose window holds j.
type lrnGradOp struct {
	opBase
	cfg lrnCfg
}

func lrnBackward[T float](c *lrnCfg, x, dy, dx []T) {
	for img := 0; img < c.n; img++ {
		for ch := 0; ch < c.c; ch++ {
			for pos := 0; pos < c.inner; pos++ {
				i := (img*c.c+ch)*c.inner + pos
				s := lrnScale(c, x, img, ch, pos)
				g := float64(dy[i])
				dx[i] += T(g * math.Pow(s, -c.beta))
				f := -2 * c.alpha * c.beta * g * float64(x[i]) * math.Pow(s, -c.beta-1)
				for k := max(0, ch-c.lo); k <= min(c.c-1, ch+c.hi); k++ {
					j := (img*c.c+k)*c.inner + pos
					dx[j] += T(f * float64(x[j]))
				}
			}
		}
	}
}

func (op *lrnGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		lrnBackward(&op.cfg, in[0], in[1], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		lrnBackward(&op.cfg, in[0], in[1], out)
		return nil
	})
}
