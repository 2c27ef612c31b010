package executor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// This file is the finite-difference gradient harness. checkGrads builds a model in float64, takes
// the loss L = Σ w ⊙ y over the first output y (w fixed pseudo-random weights, so that every output
// element matters differently), differentiates it with Net.Grad with respect to every param the
// loss depends on, and compares each gradient element with the central difference
// (L(θ+h) − L(θ−h)) / 2h of forward runs. Use it for any op: make the op's differentiable inputs
// params (param(...) in modelbuilder_test.go) with values away from kinks.

// gradCheck configures checkGrads; the zero value uses the defaults.
type gradCheck struct {
	Feeds map[string]*tensor.Dense // graph inputs, if the model has any
	Noise Noise                    // noise for both the gradient and the finite-difference runs
	Step  float64                  // finite-difference step (default 1e-6)
	Tol   float64                  // relative tolerance (default 1e-6)
	// Training builds the nets in training mode (BatchNorm with batch statistics). Ops whose
	// training forward pass changes state (running statistics) must not change the output.
	Training bool
}

// checkGrads checks every gradient of the model's first output against finite differences and
// returns the number of gradient elements checked.
func checkGrads(t *testing.T, m *onnximport.Model, c gradCheck) int {
	t.Helper()
	if c.Step == 0 {
		c.Step = 1e-6
	}
	if c.Tol == 0 {
		c.Tol = 1e-6
	}
	// The gradient net and the finite-difference net share an arena, as a trainer's nets do.
	arena := NewArena()
	net, err := Build(m, BuildOptions{Float64: true, Training: c.Training, Arena: arena})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	y := net.Outputs[0]
	w := make([]float64, size(y.Shape()))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range w {
		w[i] = 0.5 + r.Float64() // positive and spread, so that no element cancels out
		if r.IntN(2) == 0 {
			w[i] = -w[i]
		}
	}
	loss, err := weightedSum(net, y, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Grad(loss); err != nil {
		t.Fatalf("grad: %v", err)
	}
	if err := net.Forward(c.Feeds, c.Noise); err != nil {
		t.Fatalf("forward: %v", err)
	}
	grads := make([][]float64, len(net.Grads))
	for i, name := range net.GradNames {
		g, err := net.GradValue(name)
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = toFloat64(g)
	}
	// The finite differences run on a forward-only net sharing the parameter values.
	fwd, err := Build(m, BuildOptions{Float64: true, Training: c.Training, Values: net.Values, Arena: arena})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	lossAt := func() float64 {
		outs, err := fwd.Run(c.Feeds, c.Noise)
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
		var s float64
		for i, v := range toFloat64(outs[0]) {
			s += w[i] * v
		}
		return s
	}
	checked := 0
	for i, name := range net.GradNames {
		theta := net.Values[name].Data().([]float64)
		if len(grads[i]) != len(theta) {
			t.Fatalf("param %q: gradient has %d elements, the param %d", name, len(grads[i]), len(theta))
		}
		for j := range theta {
			orig := theta[j]
			h := c.Step * math.Max(1, math.Abs(orig))
			theta[j] = orig + h
			lp := lossAt()
			theta[j] = orig - h
			lm := lossAt()
			theta[j] = orig
			fd := (lp - lm) / (2 * h)
			g := grads[i][j]
			if math.Abs(g-fd) > c.Tol*math.Max(1, math.Max(math.Abs(g), math.Abs(fd))) {
				t.Errorf("param %q element %d: gradient %.10g, finite difference %.10g", name, j, g, fd)
			}
			checked++
		}
	}
	// After the forward net's passes in the shared arena, a new pass gives the same gradients.
	if err := net.Forward(c.Feeds, c.Noise); err != nil {
		t.Fatalf("forward: %v", err)
	}
	for i, name := range net.GradNames {
		g, err := net.GradValue(name)
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range toFloat64(g) {
			if v != grads[i][j] && !(math.IsNaN(v) && math.IsNaN(grads[i][j])) {
				t.Fatalf("param %q element %d: gradient %v after the finite-difference passes, %v before", name, j, v, grads[i][j])
			}
		}
	}
	return checked
}

// weightedSum adds the loss Σ w ⊙ x.
func weightedSum(net *Net, x *gorgonia.Node, w []float64) (*gorgonia.Node, error) {
	op := &weightedSumOp{opBase: newOpBase("WeightedSum", net.dt, tensor.ScalarShape(), x), w: w}
	return gorgonia.ApplyOp(op, x)
}

type weightedSumOp struct {
	opBase
	w []float64
}

func (op *weightedSumOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		var s float32
		for i, v := range in[0] {
			s += float32(op.w[i]) * v
		}
		out[0] = s
		return nil
	}, func(in [][]float64, out []float64) error {
		var s float64
		for i, v := range in[0] {
			s += op.w[i] * v
		}
		out[0] = s
		return nil
	})
}

func (op *weightedSumOp) DiffWRT(int) []bool { return []bool{true} }

func (op *weightedSumOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &weightedSumGradOp{opBase: newOpBase("WeightedSumGrad", op.dt, inputs[0].Shape(), grad), w: op.w}
	n, err := gorgonia.ApplyOp(g, grad)
	return gorgonia.Nodes{n}, err
}

type weightedSumGradOp struct {
	opBase
	w []float64
}

func (op *weightedSumGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		for i := range out {
			out[i] = float32(op.w[i]) * in[0][0]
		}
		return nil
	}, func(in [][]float64, out []float64) error {
		for i := range out {
			out[i] = op.w[i] * in[0][0]
		}
		return nil
	})
}

// rnd returns n pseudo-random values in [lo, hi) with |x| ≥ away (kinks and poles are avoided).
func rnd(seed uint64, n int, lo, hi, away float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]float32, n)
	for i := range out {
		for {
			v := lo + (hi-lo)*r.Float64()
			if math.Abs(v) >= away {
				out[i] = float32(v)
				break
			}
		}
	}
	return out
}

// p makes a param input of random values in [-2, 2).
func p(name string, seed uint64, dims ...int) testInput {
	return param(name, dims, rnd(seed, size(dims), -2, 2, 0))
}

// pr makes a param input of random values in [lo, hi) away from 0.
func pr(name string, seed uint64, lo, hi, away float64, dims ...int) testInput {
	return param(name, dims, rnd(seed, size(dims), lo, hi, away))
}

type gradCase struct {
	name  string
	model func(t *testing.T) *onnximport.Model
	check gradCheck
}

func one(opset int64, op string, ins []testInput, attrs ...*onnxpb.AttributeProto) func(t *testing.T) *onnximport.Model {
	return func(t *testing.T) *onnximport.Model { return oneNodeModel(t, opset, op, ins, attrs...) }
}

// gradCases covers every op of this package's builders.
func gradCases() []gradCase {
	var cs []gradCase
	add := func(name string, m func(t *testing.T) *onnximport.Model) {
		cs = append(cs, gradCase{name: name, model: m})
	}
	pairs := [][2][]int{{{2, 3}, {2, 3}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{2, 3}, {1}},
		{{3, 1, 1}, {1, 2, 5}}, {{1, 3, 1, 2}, {2, 1, 4, 1}}, {{1}, {2, 3}}, {{4, 1}, {1, 5}}}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow"} {
		for k, s := range pairs {
			a, b := p("a", uint64(10+k), s[0]...), p("b", uint64(20+k), s[1]...)
			switch op {
			case "Div":
				b = pr("b", uint64(20+k), -2, 2, 0.5, s[1]...)
			case "Pow":
				a = pr("a", uint64(10+k), 0.5, 2, 0, s[0]...)
				b = pr("b", uint64(20+k), -1.5, 1.5, 0, s[1]...)
			}
			add(fmt.Sprintf("%s%v%v", op, s[0], s[1]), one(13, op, []testInput{a, b}))
		}
	}
	// An operand that is a Constant node is not differentiated but must not break the others.
	add("Mul_by_Constant", func(t *testing.T) *onnximport.Model {
		c := nodeProto("Constant", nil, []string{"c"}, &onnxpb.AttributeProto{Name: strp("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: mustEncode(t, onnximport.NewFloatTensor("", []int{3}, []float32{0.5, -2, 3}))})
		return graphModel(t, 13, []testInput{p("x", 1, 2, 3)}, []*onnxpb.NodeProto{c, nodeProto("Mul", []string{"x", "c"}, []string{"y"})}, "y")
	})
	for _, op := range []string{"Exp", "Relu", "Sigmoid", "Tanh"} {
		add(op, one(13, op, []testInput{pr("x", 3, -3, 3, 0.05, 2, 3, 4)}))
	}
	add("Sqrt", one(13, "Sqrt", []testInput{pr("x", 3, 0.2, 3, 0, 3, 4)}))
	add("Clip", one(13, "Clip", []testInput{pr("x", 4, -3, 3, 0, 4, 5), floatConst("lo", nil, -1), floatConst("hi", nil, 1.5)}))
	add("Clip_min_only", one(11, "Clip", []testInput{pr("x", 4, -3, 3, 0, 4, 5), floatConst("lo", nil, 0.25)}))
	for _, e := range []float32{2, 3, 0.5, -1, 1} {
		add(fmt.Sprintf("Pow_const_%g", e), one(13, "Pow", []testInput{pr("x", 5, 0.3, 2, 0, 2, 5), floatConst("e", nil, e)}))
	}
	add("Identity", one(13, "Identity", []testInput{p("x", 6, 2, 3)}))
	add("Dropout", one(13, "Dropout", []testInput{p("x", 6, 2, 3)}))
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			a, b := p("A", 7, 3, 4), p("B", 8, 4, 5)
			if ta == 1 {
				a = p("A", 7, 4, 3)
			}
			if tb == 1 {
				b = p("B", 8, 5, 4)
			}
			add(fmt.Sprintf("Gemm_tA%d_tB%d", ta, tb), one(13, "Gemm", []testInput{a, b, p("C", 9, 5)},
				intAttr("transA", ta), intAttr("transB", tb), floatAttr("alpha", 0.75), floatAttr("beta", 1.5)))
		}
	}
	for _, cs := range [][]int{{3, 5}, {3, 1}, {1, 1}, {1}} {
		add(fmt.Sprintf("Gemm_C%v", cs), one(13, "Gemm", []testInput{p("A", 7, 3, 4), p("B", 8, 4, 5), p("C", 9, cs...)}, floatAttr("beta", 0.5)))
	}
	add("Gemm_noC", one(13, "Gemm", []testInput{p("A", 7, 3, 4), p("B", 8, 4, 5)}))
	for _, s := range [][2][]int{{{3, 4}, {4, 5}}, {{2, 3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{1, 3, 4}, {2, 4, 5}},
		{{2, 1, 3, 4}, {5, 4, 2}}, {{4}, {4, 5}}, {{3, 4}, {4}}, {{4}, {4}}, {{3, 4}, {2, 4, 5}}, {{2, 3, 4}, {1, 4, 5}}} {
		add(fmt.Sprintf("MatMul%v%v", s[0], s[1]), one(13, "MatMul", []testInput{p("a", 11, s[0]...), p("b", 12, s[1]...)}))
	}
	for _, axis := range []int64{0, 2, -1} {
		add(fmt.Sprintf("Flatten_%d", axis), one(13, "Flatten", []testInput{p("x", 13, 2, 3, 4)}, intAttr("axis", axis)))
	}
	add("Reshape", one(13, "Reshape", []testInput{p("x", 14, 2, 3, 4), intConst("s", []int{3}, 4, 0, -1)}))
	add("Transpose_default", one(13, "Transpose", []testInput{p("x", 15, 2, 3, 4)}))
	add("Transpose_0231", one(13, "Transpose", []testInput{p("x", 15, 2, 3, 4, 5)}, intsAttr("perm", 0, 2, 3, 1)))
	add("Concat_axis1", one(13, "Concat", []testInput{p("a", 16, 2, 3, 4), p("b", 17, 2, 1, 4), p("c", 18, 2, 2, 4)}, intAttr("axis", 1)))
	add("Concat_axis_neg1", one(13, "Concat", []testInput{p("a", 16, 2, 3), p("b", 17, 2, 2)}, intAttr("axis", -1)))
	add("Softmax13_last", one(13, "Softmax", []testInput{p("x", 19, 2, 3, 4)}))
	add("Softmax13_axis1", one(13, "Softmax", []testInput{p("x", 19, 2, 3, 4)}, intAttr("axis", 1)))
	add("Softmax11_coerced", one(11, "Softmax", []testInput{p("x", 19, 2, 3, 4)}))
	add("ReduceMean_axis1", one(13, "ReduceMean", []testInput{p("x", 20, 2, 3, 4)}, intsAttr("axes", 1)))
	add("ReduceMean_02_nokeep", one(13, "ReduceMean", []testInput{p("x", 20, 2, 3, 4)}, intsAttr("axes", 0, 2), intAttr("keepdims", 0)))
	add("ReduceMean_all_scalar", one(13, "ReduceMean", []testInput{p("x", 20, 2, 3, 4)}, intAttr("keepdims", 0)))
	add("ReduceMean18_axes_input", one(18, "ReduceMean", []testInput{p("x", 20, 2, 3, 4), intConst("axes", []int{1}, -1)}))
	add("LayerNorm_decomposed", layerNormModel)
	add("MLP", mlpModel)
	return cs
}

func strp(s string) *string { return &s }

func mustEncode(t *testing.T, x *onnximport.Tensor) *onnxpb.TensorProto {
	t.Helper()
	e, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func constNode(t *testing.T, out string, dims []int, v ...float32) *onnxpb.NodeProto {
	return nodeProto("Constant", nil, []string{out}, &onnxpb.AttributeProto{Name: strp("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
		T: mustEncode(t, onnximport.NewFloatTensor("", dims, v))})
}

// layerNormModel is LayerNorm over the last axis as PyTorch exports it at opset 13.
func layerNormModel(t *testing.T) *onnximport.Model {
	nodes := []*onnxpb.NodeProto{
		nodeProto("ReduceMean", []string{"x"}, []string{"mean"}, intsAttr("axes", -1)),
		nodeProto("Sub", []string{"x", "mean"}, []string{"d"}),
		constNode(t, "two", nil, 2),
		nodeProto("Pow", []string{"d", "two"}, []string{"sq"}),
		nodeProto("ReduceMean", []string{"sq"}, []string{"var"}, intsAttr("axes", -1)),
		constNode(t, "eps", nil, 1e-5),
		nodeProto("Add", []string{"var", "eps"}, []string{"ve"}),
		nodeProto("Sqrt", []string{"ve"}, []string{"sd"}),
		nodeProto("Div", []string{"d", "sd"}, []string{"n"}),
		nodeProto("Mul", []string{"n", "gamma"}, []string{"g"}),
		nodeProto("Add", []string{"g", "beta"}, []string{"y"}),
	}
	return graphModel(t, 13, []testInput{p("x", 21, 3, 6), p("gamma", 22, 6), p("beta", 23, 6)}, nodes, "y")
}

// mlpModel is Gemm → Relu → Gemm → Softmax.
func mlpModel(t *testing.T) *onnximport.Model {
	nodes := []*onnxpb.NodeProto{
		nodeProto("Gemm", []string{"x", "w1", "b1"}, []string{"h"}, intAttr("transB", 1)),
		nodeProto("Relu", []string{"h"}, []string{"r"}),
		nodeProto("Gemm", []string{"r", "w2", "b2"}, []string{"z"}, intAttr("transB", 1)),
		nodeProto("Softmax", []string{"z"}, []string{"y"}, intAttr("axis", 1)),
	}
	return graphModel(t, 13, []testInput{p("x", 24, 4, 5), p("w1", 25, 6, 5), p("b1", 26, 6), p("w2", 27, 3, 6), p("b2", 28, 3)}, nodes, "y")
}

// TestGradCheck compares the symbolic gradients of every op with central finite differences.
func TestGradCheck(t *testing.T) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) {
			if n := checkGrads(t, c.model(t), c.check); n == 0 {
				t.Fatal("no gradient element was checked")
			}
		})
	}
}

// TestGradCheckNoiseScaleLarge checks the gradient of a layer's noise scale over a tensor large
// enough for the parallel, chunked reduction (d/dlogσ of Σ w ⊙ (x + exp(logσ)·ε), 60 000 values).
func TestGradCheckNoiseScaleLarge(t *testing.T) {
	dims := []int{3, 100, 200}
	nodes := []*onnxpb.NodeProto{
		nodeProto("RandomNormalLike", []string{"x"}, []string{"eps"}),
		nodeProto("Exp", []string{"logs"}, []string{"s"}),
		nodeProto("Mul", []string{"eps", "s"}, []string{"n"}),
		nodeProto("Add", []string{"x", "n"}, []string{"y"}),
	}
	m := graphModel(t, 13, []testInput{fed("x", dims), p("logs", 31, 1)}, nodes, "y")
	c := gradCheck{
		Feeds: map[string]*tensor.Dense{"x": denseOf32(dims, rnd(32, size(dims), -2, 2, 0))},
		Noise: Noise{Values: map[string]*tensor.Dense{"eps": denseOf32(dims, rnd(33, size(dims), -3, 3, 0))}},
	}
	if n := checkGrads(t, m, c); n != 1 {
		t.Fatalf("checked %d gradient elements, want 1", n)
	}
}

// TestGradCheckNoise checks the reparameterization through RandomNormalLike / RandomUniformLike:
// y = x + exp(logσ)·ε with ε fixed, differentiated with respect to x and logσ.
func TestGradCheckNoise(t *testing.T) {
	for _, op := range []string{"RandomNormalLike", "RandomUniformLike"} {
		t.Run(op, func(t *testing.T) {
			nodes := []*onnxpb.NodeProto{
				nodeProto(op, []string{"x"}, []string{"eps"}),
				nodeProto("Exp", []string{"logs"}, []string{"s"}),
				nodeProto("Mul", []string{"s", "eps"}, []string{"n"}),
				nodeProto("Add", []string{"x", "n"}, []string{"y"}),
			}
			m := graphModel(t, 13, []testInput{p("x", 30, 2, 3), p("logs", 31, 3)}, nodes, "y")
			eps := denseOf([]int{2, 3}, []float64{0.3, -1.2, 0.8, 2.1, -0.4, 1.0})
			if n := checkGrads(t, m, gradCheck{Noise: Noise{Values: map[string]*tensor.Dense{"eps": eps}}}); n != 9 {
				t.Fatalf("checked %d gradient elements, want 9", n)
			}
		})
	}
}
