package executor_test

import (
	"fmt"
	"log"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Build a model for a batch of 2 and run it.
func ExampleBuild() {
	m, err := onnximport.Load("../testdata/models/mlp-ln-op13.onnx")
	if err != nil {
		log.Fatal(err)
	}
	net, err := executor.Build(m, executor.BuildOptions{Batch: 2})
	if err != nil {
		log.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(2, 784), tensor.WithBacking(make([]float32, 2*784)))
	outs, err := net.Run(map[string]*tensor.Dense{net.InputNames[0]: x}, executor.Noise{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(net.InputNames, net.OutputNames, outs[0].Shape())
	// Output: [input] [logits] (2, 10)
}

// Differentiate the cross-entropy of a model's logits with respect to its parameters.
func ExampleNet_Grad() {
	m, err := onnximport.Load("../testdata/models/mlp-ln-op13.onnx")
	if err != nil {
		log.Fatal(err)
	}
	const batch = 4
	net, err := executor.Build(m, executor.BuildOptions{Batch: batch})
	if err != nil {
		log.Fatal(err)
	}
	loss, err := net.CrossEntropy("logits")
	if err != nil {
		log.Fatal(err)
	}
	if err := net.Grad(loss); err != nil { // every param the loss depends on
		log.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*784)
	for i := range x {
		x[i] = r.Float32()
	}
	if err := net.SetLabels([]int{0, 1, 2, 3}); err != nil {
		log.Fatal(err)
	}
	feeds := map[string]*tensor.Dense{"input": tensor.New(tensor.WithShape(batch, 784), tensor.WithBacking(x))}
	if err := net.Forward(feeds, executor.Noise{}); err != nil {
		log.Fatal(err)
	}
	l, err := net.LossValue()
	if err != nil {
		log.Fatal(err)
	}
	g, err := net.GradValue(net.GradNames[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("loss %.2f; %d gradients; d loss/d %s has shape %v\n", l, len(net.Grads), net.GradNames[0], g.Shape())
	// Output: loss 2.31; 8 gradients; d loss/d fc1.bias has shape (256)
}
