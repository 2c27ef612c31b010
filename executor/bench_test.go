package executor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"

	_ "github.com/xreg-onnx/xreg-onnx/internal/blas" // OpenBLAS unless -tags purego
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// mlpLNModel is the protocol's mlp-ln (784-256-256-256-10, Linear → LayerNorm without affine →
// ReLU), with LayerNorm decomposed as PyTorch exports it at opset 13.
func mlpLNModel(t testing.TB) *onnximport.Model {
	var nodes []*onnxpb.NodeProto
	ins := []testInput{fed("x", []int{-1, 784})}
	sizes := []int{784, 256, 256, 256, 10}
	prev := "x"
	r := rand.New(rand.NewPCG(1, 1))
	randn := func(n int, scale float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(r.NormFloat64() * scale)
		}
		return out
	}
	for l := 0; l+1 < len(sizes); l++ {
		w, b := fmt.Sprintf("w%d", l), fmt.Sprintf("b%d", l)
		ins = append(ins, param(w, []int{sizes[l+1], sizes[l]}, randn(sizes[l]*sizes[l+1], 0.05)), param(b, []int{sizes[l+1]}, randn(sizes[l+1], 0.05)))
		h := fmt.Sprintf("h%d", l)
		nodes = append(nodes, nodeProto("Gemm", []string{prev, w, b}, []string{h}, intAttr("transB", 1)))
		prev = h
		if l+2 == len(sizes) {
			break
		}
		p := func(s string) string { return fmt.Sprintf("%s%d", s, l) }
		nodes = append(nodes,
			nodeProto("ReduceMean", []string{prev}, []string{p("mean")}, intsAttr("axes", -1)),
			nodeProto("Sub", []string{prev, p("mean")}, []string{p("d")}),
			nodeProto("Pow", []string{p("d"), "two"}, []string{p("sq")}),
			nodeProto("ReduceMean", []string{p("sq")}, []string{p("var")}, intsAttr("axes", -1)),
			nodeProto("Add", []string{p("var"), "eps"}, []string{p("ve")}),
			nodeProto("Sqrt", []string{p("ve")}, []string{p("sd")}),
			nodeProto("Div", []string{p("d"), p("sd")}, []string{p("n")}),
			nodeProto("Relu", []string{p("n")}, []string{p("r")}),
		)
		prev = p("r")
	}
	ins = append(ins, intConst("two", nil, 2))
	nodes = append(nodes, nodeProto("Constant", nil, []string{"eps"}, floatTensorAttr(1e-5)))
	return graphModel(t, 13, ins, nodes, prev)
}

func floatTensorAttr(v float32) *onnxpb.AttributeProto {
	t, err := onnximport.NewFloatTensor("", nil, []float32{v}).Encode()
	if err != nil {
		panic(err)
	}
	return &onnxpb.AttributeProto{Name: strp("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// BenchmarkMLPStep times one training step (forward, loss, gradients) of mlp-ln at batch 64.
func BenchmarkMLPStep(b *testing.B) {
	const batch = 64
	net, err := Build(mlpLNModel(b), BuildOptions{Batch: batch})
	if err != nil {
		b.Fatal(err)
	}
	loss, err := net.CrossEntropy(net.OutputNames[0])
	if err != nil {
		b.Fatal(err)
	}
	if err := net.Grad(loss); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	x := make([]float32, batch*784)
	for i := range x {
		x[i] = r.Float32()
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = r.IntN(10)
	}
	feeds := map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(batch, 784), tensor.WithBacking(x))}
	if err := net.SetLabels(labels); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := net.Forward(feeds, Noise{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}
