package executor

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The activation and arithmetic ops of other exporters (paddle2onnx, tf2onnx) and of torch's
// GELU, HardSwish and SiLU exports: unary functions with their derivatives (pointOp), and the
// broadcasting binary Max, Min and PRelu (pairOp).
func init() {
	for op := range pointFuncs {
		register(op, buildPoint)
	}
	register("Max", buildMinMax)
	register("Min", buildMinMax)
	register("Sum", buildSum)
	register("PRelu", buildPRelu)
}

// pointFunc is y = f(x) with dy/dx = df(x, y); attributes come from the node.
type pointFunc func(n *onnximport.Node) (f func(x float64) float64, df func(x, y float64) float64)

var pointFuncs = map[string]pointFunc{
	"Erf": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return math.Erf, func(x, _ float64) float64 { return 2 / math.SqrtPi * math.Exp(-x*x) }
	},
	"Neg": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return func(x float64) float64 { return -x }, func(_, _ float64) float64 { return -1 }
	},
	"Abs": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return math.Abs, func(x, _ float64) float64 {
			if x > 0 {
				return 1
			} else if x < 0 {
				return -1
			}
			return 0
		}
	},
	"Reciprocal": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return func(x float64) float64 { return 1 / x }, func(_, y float64) float64 { return -y * y }
	},
	"Log": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return math.Log, func(x, _ float64) float64 { return 1 / x }
	},
	"Softplus": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return func(x float64) float64 {
				if x > 0 {
					return x + math.Log1p(math.Exp(-x))
				}
				return math.Log1p(math.Exp(x))
			}, func(x, _ float64) float64 {
				return 1 / (1 + math.Exp(-x))
			}
	},
	"LeakyRelu": func(n *onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		a := float64(n.Float("alpha", 0.01))
		return func(x float64) float64 {
				if x >= 0 {
					return x
				}
				return a * x
			}, func(x, _ float64) float64 {
				if x > 0 {
					return 1
				}
				return a
			}
	},
	"Elu": func(n *onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		a := float64(n.Float("alpha", 1))
		return func(x float64) float64 {
				if x >= 0 {
					return x
				}
				return a * (math.Exp(x) - 1)
			}, func(x, y float64) float64 {
				if x > 0 {
					return 1
				}
				return y + a
			}
	},
	"Selu": func(n *onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		a, g := float64(n.Float("alpha", 1.67326319217681884765625)), float64(n.Float("gamma", 1.05070102214813232421875))
		return func(x float64) float64 {
				if x > 0 {
					return g * x
				}
				return g * a * (math.Exp(x) - 1)
			}, func(x, y float64) float64 {
				if x > 0 {
					return g
				}
				return y + g*a
			}
	},
	"HardSigmoid": func(n *onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		a, b := float64(n.Float("alpha", 0.2)), float64(n.Float("beta", 0.5))
		return func(x float64) float64 { return min(max(a*x+b, 0), 1) }, func(x, _ float64) float64 {
			if v := a*x + b; v > 0 && v < 1 {
				return a
			}
			return 0
		}
	},
	"HardSwish": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return func(x float64) float64 { return x * min(max(x/6+0.5, 0), 1) }, func(x, _ float64) float64 {
			switch {
			case x <= -3:
				return 0
			case x >= 3:
				return 1
			}
			return x/3 + 0.5
		}
	},
	"Softsign": func(*onnximport.Node) (func(float64) float64, func(float64, float64) float64) {
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, func(x, _ float64) float64 {
			d := 1 + math.Abs(x)
			return 1 / (d * d)
		}
	},
}

func buildPoint(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	f, df := pointFuncs[n.OpType](n)
	op := &pointOp{opBase: newOpBase(n.OpType, b.dt, x.Shape(), x), f: f, df: df}
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// pointOp applies f elementwise (computed in float64).
type pointOp struct {
	opBase
	f  func(x float64) float64
	df func(x, y float64) float64
}

func (op *pointOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		pointKernel(op.f, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		pointKernel(op.f, in[0], out)
		return nil
	})
}

func pointKernel[T float](f func(float64) float64, x, y []T) {
	parallelChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = T(f(float64(x[i])))
		}
	})
}

func (op *pointOp) DiffWRT(int) []bool { return []bool{true} }

func (op *pointOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &pointGradOp{opBase: newOpBase(op.name+"Grad", op.dt, op.out, inputs[0], output, grad), df: op.df}
	n, err := gorgonia.ApplyOp(g, inputs[0], output, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// pointGradOp computes dx = df(x, y)·dy from x, y, dy.
type pointGradOp struct {
	opBase
	df func(x, y float64) float64
}

func (op *pointGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		pointGradKernel(op.df, in[0], in[1], in[2], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		pointGradKernel(op.df, in[0], in[1], in[2], out)
		return nil
	})
}

func pointGradKernel[T float](df func(x, y float64) float64, x, y, g, dx []T) {
	parallelChunks(len(g), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dx[i] = T(df(float64(x[i]), float64(y[i])) * float64(g[i]))
		}
	})
}

// ---- broadcasting binary functions: Max, Min, PRelu ----

// pairFunc is z = f(a, b) with partial derivatives da, db.
type pairFunc struct {
	name   string
	f      func(a, b float64) float64
	da, db func(a, b float64) float64
}

var (
	pairMax = pairFunc{"Max", math.Max,
		func(a, b float64) float64 { return b2f(a >= b) }, func(a, b float64) float64 { return b2f(b > a) }}
	pairMin = pairFunc{"Min", math.Min,
		func(a, b float64) float64 { return b2f(a <= b) }, func(a, b float64) float64 { return b2f(b < a) }}
	pairPRelu = pairFunc{"PRelu",
		func(x, s float64) float64 {
			if x < 0 {
				return s * x
			}
			return x
		},
		func(x, s float64) float64 {
			if x < 0 {
				return s
			}
			return 1
		},
		func(x, _ float64) float64 { return min(x, 0) }}
)

func (b *builder) pair(p pairFunc, x, y *gorgonia.Node) (*gorgonia.Node, error) {
	out, err := broadcastShapes(x.Shape(), y.Shape())
	if err != nil {
		return nil, err
	}
	op := &pairOp{opBase: newOpBase(p.name, b.dt, out, x, y), fn: p, plan: newPlan(x.Shape(), y.Shape(), out)}
	return gorgonia.ApplyOp(op, x, y)
}

// buildMinMax and buildSum fold their variadic inputs pairwise.
func buildMinMax(b *builder, n *onnximport.Node) error {
	p := pairMax
	if n.OpType == "Min" {
		p = pairMin
	}
	return b.foldInputs(n, func(x, y *gorgonia.Node) (*gorgonia.Node, error) { return b.pair(p, x, y) })
}

func buildSum(b *builder, n *onnximport.Node) error {
	return b.foldInputs(n, func(x, y *gorgonia.Node) (*gorgonia.Node, error) { return b.binary(binAdd, x, y) })
}

// foldInputs combines the node's inputs left to right with f and publishes the result.
func (b *builder) foldInputs(n *onnximport.Node, f func(x, y *gorgonia.Node) (*gorgonia.Node, error)) error {
	acc, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	for i := 1; i < len(n.Inputs); i++ {
		y, err := b.Input(n, i)
		if err != nil {
			return err
		}
		if acc, err = f(acc, y); err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	b.Set(n, 0, acc)
	return nil
}

func buildPRelu(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	s, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	// Opsets < 9 and paddle2onnx write a per-channel slope of shape [C] for an N×C×H×W input,
	// which numpy broadcasting would align with W: align it with the channels.
	if xs, ss := x.Shape(), s.Shape(); xs.Dims() > 2 && ss.Dims() == 1 && ss[0] == xs[1] && ss[0] != xs[xs.Dims()-1] {
		dims := make([]int, xs.Dims()-1)
		for i := range dims {
			dims[i] = 1
		}
		dims[0] = ss[0]
		if s, err = b.reshape(s, dims); err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	y, err := b.pair(pairPRelu, x, s)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

type pairOp struct {
	opBase
	fn   pairFunc
	plan bplan
}

func (op *pairOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		pairKernel(op.fn.f, &op.plan, in[0], in[1], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		pairKernel(op.fn.f, &op.plan, in[0], in[1], out)
		return nil
	})
}

func pairKernel[T float](f func(a, b float64) float64, p *bplan, a, b, out []T) {
	p.eachParallel(func(o, ia, ib, n, sa, sb int) {
		for i := 0; i < n; i++ {
			out[o+i] = T(f(float64(a[ia]), float64(b[ib])))
			ia += sa
			ib += sb
		}
	})
}

func (op *pairOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *pairOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	out := make(gorgonia.Nodes, 2)
	for which, x := range inputs {
		d := op.fn.da
		if which == 1 {
			d = op.fn.db
		}
		g := &pairGradOp{opBase: newOpBase(op.name+"Grad", op.dt, x.Shape(), inputs[0], inputs[1], grad), d: d, which: which, plan: op.plan}
		g.zero = true
		n, err := gorgonia.ApplyOp(g, inputs[0], inputs[1], grad)
		if err != nil {
			return nil, err
		}
		out[which] = n
	}
	return out, nil
}

// pairGradOp sums d(a, b)·dy over the broadcast dimensions of operand which. Inputs: a, b, dy.
type pairGradOp struct {
	opBase
	d     func(a, b float64) float64
	which int
	plan  bplan
}

func (op *pairGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		pairGradKernel(op.d, op.which, &op.plan, in[0], in[1], in[2], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		pairGradKernel(op.d, op.which, &op.plan, in[0], in[1], in[2], out)
		return nil
	})
}

func pairGradKernel[T float](d func(a, b float64) float64, which int, p *bplan, a, b, g, out []T) {
	p.each(func(o, ia, ib, n, sa, sb int) {
		for i := 0; i < n; i++ {
			j := ia
			if which == 1 {
				j = ib
			}
			out[j] += T(d(float64(a[ia]), float64(b[ib])) * float64(g[o+i]))
			ia += sa
			ib += sb
		}
	})
}
