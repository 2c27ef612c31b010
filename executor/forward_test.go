package executor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// TestReluGradientAtZero checks the ONNX/PyTorch convention d relu(x)/dx = 0 at x = 0 (Gorgonia's
// Rectify says 1), and Clip's zero gradient on its bounds; "compiled" nets are compiled (Compile)
// before their first Forward, as xreg.Train does, and give the same closed form.
func TestReluGradientAtZero(t *testing.T) {
	for _, c := range []struct {
		name    string
		ins     []testInput
		op      string
		want    []float64 // dL/dx for L = Σ y
		compile bool
	}{
		{"Relu", []testInput{param("x", []int{5}, []float32{-1, 0, 2, 0, -0.5})}, "Relu", []float64{0, 0, 1, 0, 0}, false},
		{"Clip", []testInput{param("x", []int{5}, []float32{-1, 0, 0.5, 1, 2}), floatConst("lo", nil, 0), floatConst("hi", nil, 1)}, "Clip", []float64{0, 0, 1, 0, 0}, false},
		{"Relu compiled", []testInput{param("x", []int{5}, []float32{-1, 0, 2, 0, -0.5})}, "Relu", []float64{0, 0, 1, 0, 0}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			net, err := Build(oneNodeModel(t, 13, c.op, c.ins), BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			loss, err := weightedSum(net, net.Outputs[0], []float64{1, 1, 1, 1, 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := net.Grad(loss, "x"); err != nil {
				t.Fatal(err)
			}
			if c.compile {
				if err := net.Compile(); err != nil {
					t.Fatal(err)
				}
			}
			if err := net.Forward(nil, Noise{}); err != nil {
				t.Fatal(err)
			}
			g, err := net.GradValue("x")
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range toFloat64(g) {
				if v != c.want[i] {
					t.Fatalf("gradient %v, want %v", toFloat64(g), c.want)
				}
			}
		})
	}
}

// TestCrossEntropy checks the loss against its closed form and its gradient against finite
// differences.
func TestCrossEntropy(t *testing.T) {
	logits := []float32{1, 2, 3, -1, 0, 1000, 0.5, 0.5, 0.5}
	labels := []int{2, 0, 1}
	m := oneNodeModel(t, 13, "Identity", []testInput{param("z", []int{3, 3}, logits)})
	for _, f64 := range []bool{false, true} {
		net, err := Build(m, BuildOptions{Float64: f64})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := net.CrossEntropy("y")
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Grad(loss); err != nil {
			t.Fatal(err)
		}
		if err := net.Forward(nil, Noise{}); err == nil || !strings.Contains(err.Error(), "labels") {
			t.Fatalf("forward without labels: error %v, want one about labels", err)
		}
		if err := net.SetLabels([]int{0, 3, 1}); err == nil {
			t.Fatal("SetLabels accepted label 3 of 3 classes")
		}
		if err := net.SetLabels(labels); err != nil {
			t.Fatal(err)
		}
		if err := net.Forward(nil, Noise{}); err != nil {
			t.Fatal(err)
		}
		got, err := net.LossValue()
		if err != nil {
			t.Fatal(err)
		}
		// closed form: −log softmax; row 2 is uniform over 3 classes, row 1 has logit 1000 vs -1.
		lse0 := 3 + math.Log(math.Exp(-2)+math.Exp(-1)+1)
		want := ((lse0 - 3) + (1000 + math.Log(1+math.Exp(-1001)+math.Exp(-1000)) + 1) + math.Log(3)) / 3
		tol := 1e-12
		if !f64 {
			tol = 1e-6
		}
		if math.Abs(got-want) > tol*want {
			t.Fatalf("float64=%v: loss %.10g, want %.10g", f64, got, want)
		}
		g, err := net.GradValue("z")
		if err != nil {
			t.Fatal(err)
		}
		// closed form gradient: (softmax − onehot)/rows
		gv := toFloat64(g)
		for r := 0; r < 3; r++ {
			row := []float64{float64(logits[3*r]), float64(logits[3*r+1]), float64(logits[3*r+2])}
			mx := math.Max(row[0], math.Max(row[1], row[2]))
			s := 0.0
			for _, v := range row {
				s += math.Exp(v - mx)
			}
			for c := 0; c < 3; c++ {
				w := math.Exp(row[c]-mx) / s
				if c == labels[r] {
					w--
				}
				w /= 3
				if math.Abs(gv[3*r+c]-w) > tol {
					t.Fatalf("float64=%v: gradient[%d][%d] = %.10g, want %.10g", f64, r, c, gv[3*r+c], w)
				}
			}
		}
	}
}

// TestRunErrors checks that bad feeds are reported with the input's name.
func TestRunErrors(t *testing.T) {
	m := oneNodeModel(t, 13, "Relu", []testInput{fed("x", []int{2, 3})})
	net, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := denseOf32([]int{2, 3}, []float32{1, -1, 2, -2, 3, -3})
	for _, c := range []struct {
		name  string
		feeds map[string]*tensor.Dense
		want  string
	}{
		{"missing", map[string]*tensor.Dense{}, `input "x" is not fed`},
		{"shape", map[string]*tensor.Dense{"x": denseOf32([]int{3, 2}, make([]float32, 6))}, `input "x": shape (3, 2), the net was built for (2, 3)`},
		{"unknown", map[string]*tensor.Dense{"x": good, "z": good}, `"z" is not an input`},
		{"dtype", map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]int, 6)))}, `input "x": element type int`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := net.Run(c.feeds, Noise{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// A float64 feed works in a float32 net, and outputs are copies the next run does not touch.
	out1, err := net.Run(map[string]*tensor.Dense{"x": denseOf([]int{2, 3}, []float64{1, -1, 2, -2, 3, -3})}, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Run(map[string]*tensor.Dense{"x": denseOf32([]int{2, 3}, make([]float32, 6))}, Noise{}); err != nil {
		t.Fatal(err)
	}
	if got := toFloat64(out1[0]); got[0] != 1 || got[2] != 2 || got[4] != 3 || got[1] != 0 {
		t.Fatalf("first output changed by the second run: %v", got)
	}
}

// TestNoise checks the three ways of filling a noise input.
func TestNoise(t *testing.T) {
	nodes := []*onnxpb.NodeProto{
		nodeProto("RandomNormalLike", []string{"x"}, []string{"eps"}, floatAttr("mean", 1), floatAttr("scale", 2)),
		nodeProto("Add", []string{"x", "eps"}, []string{"y"}),
		nodeProto("RandomUniformLike", []string{"x"}, []string{"u"}, floatAttr("low", -1), floatAttr("high", 3)),
		nodeProto("Add", []string{"x", "u"}, []string{"z"}),
	}
	const n = 20000
	m := graphModel(t, 13, []testInput{fed("x", []int{n})}, nodes, "y", "z")
	net, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(net.Noise) != 2 || net.Noise[0].Kind != NoiseNormal || net.Noise[1].Kind != NoiseUniform ||
		net.Noise[0].Mean != 1 || net.Noise[0].Scale != 2 || net.Noise[1].Low != -1 || net.Noise[1].High != 3 {
		t.Fatalf("noise inputs %+v", net.Noise)
	}
	x := denseOf32([]int{n}, make([]float32, n))
	feeds := map[string]*tensor.Dense{"x": x}

	outs, err := net.Run(feeds, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		for _, v := range toFloat64(o) {
			if v != 0 {
				t.Fatal("zero noise: output is not x")
			}
		}
	}

	outs, err = net.Run(feeds, Noise{Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		t.Fatal(err)
	}
	mean, std := moments(toFloat64(outs[0]))
	// N(1, 2²): the mean of 20000 draws is within 4 standard errors (4·2/√n ≈ 0.057).
	if math.Abs(mean-1) > 0.057 || math.Abs(std-2) > 0.05 {
		t.Fatalf("normal noise: mean %.4f std %.4f, want 1 and 2", mean, std)
	}
	mean, std = moments(toFloat64(outs[1]))
	lo, hi := 10.0, -10.0
	for _, v := range toFloat64(outs[1]) {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	// U[-1, 3): mean 1, std 4/√12.
	if math.Abs(mean-1) > 0.04 || math.Abs(std-4/math.Sqrt(12)) > 0.03 || lo < -1 || hi >= 3 {
		t.Fatalf("uniform noise: mean %.4f std %.4f range [%.3f, %.3f]", mean, std, lo, hi)
	}

	fixed := make([]float32, n)
	fixed[7] = 5
	outs, err = net.Run(feeds, Noise{Rand: rand.New(rand.NewPCG(3, 4)), Values: map[string]*tensor.Dense{"eps": denseOf32([]int{n}, fixed)}})
	if err != nil {
		t.Fatal(err)
	}
	if y := toFloat64(outs[0]); y[7] != 5 || y[8] != 0 {
		t.Fatalf("fixed noise: y[7]=%v y[8]=%v, want 5 and 0", y[7], y[8])
	}
	if _, err := net.Run(feeds, Noise{Values: map[string]*tensor.Dense{"nope": x}}); err == nil {
		t.Fatal("a noise value for an unknown name was accepted")
	}
}

func moments(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
}

// TestSharedValues checks that nets of different batch sizes share their parameters.
func TestSharedValues(t *testing.T) {
	m := graphModel(t, 13, []testInput{fed("x", []int{-1, 2}), param("w", []int{2, 2}, []float32{1, 2, 3, 4})},
		[]*onnxpb.NodeProto{nodeProto("MatMul", []string{"x", "w"}, []string{"y"})}, "y")
	big, err := Build(m, BuildOptions{Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	small, err := Build(m, BuildOptions{Batch: 1, Values: big.Values})
	if err != nil {
		t.Fatal(err)
	}
	if big.Inputs["x"].Shape()[0] != 3 || small.Inputs["x"].Shape()[0] != 1 {
		t.Fatalf("batch sizes %v and %v", big.Inputs["x"].Shape(), small.Inputs["x"].Shape())
	}
	big.Values["w"].Data().([]float32)[0] = 10
	out, err := small.Run(map[string]*tensor.Dense{"x": denseOf32([]int{1, 2}, []float32{1, 1})}, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	if got := toFloat64(out[0]); got[0] != 13 || got[1] != 6 {
		t.Fatalf("small net output %v, want [13 6] (weights shared with the big net)", got)
	}
}

// TestGradErrors checks the misuse Grad reports.
func TestGradErrors(t *testing.T) {
	m := graphModel(t, 13, []testInput{p("a", 1, 2, 2), p("b", 2, 2, 2), p("unused", 3, 2, 2)},
		[]*onnxpb.NodeProto{nodeProto("Mul", []string{"a", "b"}, []string{"y"}), nodeProto("Relu", []string{"unused"}, []string{"z"})}, "y", "z")
	net, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loss, err := weightedSum(net, net.Outputs[0], []float64{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		params []string
		want   string
	}{
		{[]string{"unused"}, `does not depend on param "unused"`},
		{[]string{"nope"}, `"nope" is not a param`},
	} {
		if err := net.Grad(loss, c.params...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("Grad(%v): error %v, want one containing %q", c.params, err, c.want)
		}
	}
	if err := net.Grad(nil); err == nil {
		t.Fatal("Grad accepted a nil loss")
	}
	if err := net.Grad(loss); err != nil { // all reachable params: a and b
		t.Fatal(err)
	}
	if strings.Join(net.GradNames, ",") != "a,b" {
		t.Fatalf("GradNames %v, want [a b]", net.GradNames)
	}
	if err := net.Grad(loss, "a"); err == nil {
		t.Fatal("a second Grad was accepted")
	}
	// A net compiled without gradients refuses them instead of never computing them.
	compiled, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := compiled.Compile(); err != nil {
		t.Fatal(err)
	}
	closs, err := weightedSum(compiled, compiled.Outputs[0], []float64{1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := compiled.Grad(closs); err == nil || !strings.Contains(err.Error(), "already compiled") {
		t.Fatalf("Grad after Compile: error %v, want one saying the net is already compiled", err)
	}
}

// TestSetTraining checks that mode switches reach the ops that registered for them.
func TestSetTraining(t *testing.T) {
	net, err := Build(oneNodeModel(t, 13, "Relu", []testInput{fed("x", []int{2})}), BuildOptions{Training: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	net.modeHooks = append(net.modeHooks, func(training bool) { got = append(got, training) })
	if !net.Training() {
		t.Fatal("BuildOptions.Training was not kept")
	}
	net.SetTraining(false)
	net.SetTraining(true)
	if net.Training() != true || len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("hook calls %v", got)
	}
}
