package executor

import (
	"math"
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// TestNoisyAddFused checks that inject's noise pattern Add(x, Mul(ε, exp(log σ))) builds as one
// NoisyAdd op and computes x + σ·ε as the closed form rounds it in float32 (the product rounded,
// then the sum), for a layer σ and a per-channel σ, either operand order; a Mul read by another
// node as well stays unfused.
func TestNoisyAddFused(t *testing.T) {
	dims := []int{2, 3, 4, 5}
	tests := []struct {
		name      string
		sigma     []int // shape of log σ
		mulInputs []string
		extraUse  bool // the Mul's output is a graph output too
		fused     bool
	}{
		{"layer σ", []int{1}, []string{"eps", "s"}, false, true},
		{"channel σ, σ first", []int{3, 1, 1}, []string{"s", "eps"}, false, true},
		{"Mul read twice", []int{1}, []string{"eps", "s"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := []*onnxpb.NodeProto{
				nodeProto("RandomNormalLike", []string{"x"}, []string{"eps"}),
				nodeProto("Exp", []string{"logs"}, []string{"s"}),
				nodeProto("Mul", tt.mulInputs, []string{"n"}),
				nodeProto("Add", []string{"x", "n"}, []string{"y"}),
			}
			outs := []string{"y"}
			if tt.extraUse {
				outs = append(outs, "n")
			}
			logs := rnd(51, size(tt.sigma), -2, 0, 0)
			m := graphModel(t, 13, []testInput{fed("x", dims), param("logs", tt.sigma, logs)}, nodes, outs...)
			net, err := Build(m, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fused := false
			for _, n := range net.Graph.AllNodes() {
				_, ok := n.Op().(*noisyAddOp)
				fused = fused || ok
			}
			if fused != tt.fused {
				t.Fatalf("fused %v, want %v", fused, tt.fused)
			}
			x, eps := rnd(52, size(dims), -3, 3, 0), rnd(53, size(dims), -3, 3, 0)
			out, err := net.Run(map[string]*tensor.Dense{"x": f32Tensor(dims, x)}, Noise{Values: map[string]*tensor.Dense{"eps": f32Tensor(dims, eps)}})
			if err != nil {
				t.Fatal(err)
			}
			y := out[0].Data().([]float32)
			plane := dims[2] * dims[3]
			for i := range y {
				s := float32(math.Exp(float64(logs[0])))
				if len(logs) > 1 {
					s = float32(math.Exp(float64(logs[i/plane%dims[1]])))
				}
				if want := x[i] + float32(eps[i]*s); y[i] != want {
					t.Fatalf("y[%d] = %v, want %v", i, y[i], want)
				}
			}
		})
	}
}

// TestNoisyAddActivationFused checks that Relu(NoisyAdd) and Clip(NoisyAdd) (ReLU6) build as one
// op computing act(x + σ·ε) bit for bit as the closed form (ReLU: +0 at and below 0), and that
// their gradients with respect to x and log σ match finite differences (x away from the kinks).
func TestNoisyAddActivationFused(t *testing.T) {
	dims := []int{2, 3, 4, 5}
	acts := []struct {
		name string
		node *onnxpb.NodeProto
		f    func(float32) float32
	}{
		{"Relu", nodeProto("Relu", []string{"a"}, []string{"y"}), func(v float32) float32 { return max(v, 0) + 0 }},
		{"Clip", nodeProto("Clip", []string{"a", "lo", "hi"}, []string{"y"}), func(v float32) float32 { return min(max(v, 0), 1.5) + 0 }},
	}
	for _, a := range acts {
		t.Run(a.name, func(t *testing.T) {
			nodes := []*onnxpb.NodeProto{
				nodeProto("RandomNormalLike", []string{"x"}, []string{"eps"}),
				nodeProto("Exp", []string{"logs"}, []string{"s"}),
				nodeProto("Mul", []string{"eps", "s"}, []string{"n"}),
				nodeProto("Add", []string{"x", "n"}, []string{"a"}),
				a.node,
			}
			logs := []float32{-1.5}
			ins := []testInput{fed("x", dims), param("logs", []int{1}, logs), floatConst("lo", nil, 0), floatConst("hi", nil, 1.5)}
			net, err := Build(graphModel(t, 13, ins, nodes, "y"), BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fused := false
			for _, n := range net.Graph.AllNodes() {
				if op, ok := n.Op().(*noisyAddOp); ok && op.act != noAct {
					fused = true
				}
			}
			if !fused {
				t.Fatal("the activation was not fused into the noise add")
			}
			x, eps := rnd(62, size(dims), -3, 3, 0), rnd(63, size(dims), -3, 3, 0)
			out, err := net.Run(map[string]*tensor.Dense{"x": f32Tensor(dims, x)}, Noise{Values: map[string]*tensor.Dense{"eps": f32Tensor(dims, eps)}})
			if err != nil {
				t.Fatal(err)
			}
			s := float32(math.Exp(float64(logs[0])))
			for i, y := range out[0].Data().([]float32) {
				if want := a.f(x[i] + float32(eps[i]*s)); math.Float32bits(y) != math.Float32bits(want) {
					t.Fatalf("y[%d] = %v, want %v", i, y, want)
				}
			}
			// Gradients through the fused activation: x a param away from the kinks (|x| ≥ 0.2,
			// noise of at most 0.05·0.22, and ≤ 1.3 below Clip's upper bound).
			gx := rnd(64, 6, -1.3, 1.3, 0.2)
			ge := denseOf([]int{2, 3}, []float64{0.05, -0.05, 0.03, -0.02, 0.01, 0.04})
			m := graphModel(t, 13, []testInput{param("x", []int{2, 3}, gx), param("logs", []int{1}, logs), floatConst("lo", nil, 0), floatConst("hi", nil, 1.5)}, nodes, "y")
			if n := checkGrads(t, m, gradCheck{Noise: Noise{Values: map[string]*tensor.Dense{"eps": ge}}}); n != 7 {
				t.Fatalf("checked %d gradient elements, want 7", n)
			}
		})
	}
}
