package onnximport_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Load a model, look at its graph, change an initializer and write it back.
func Example() {
	m, err := onnximport.Load("../testdata/models/cnn-bn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opset", m.Opset, "nodes", len(m.Graph.Nodes))
	for _, n := range m.Graph.Nodes[:3] {
		fmt.Println(n.OpType, n.Name)
	}
	shapes, err := m.InferShapes(map[string][]int{"input": {8, 1, 28, 28}}, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logits", shapes["logits"])

	bias := m.Graph.Initializers["fc.bias"]
	zeros := onnximport.NewFloatTensor(bias.Name, bias.Dims, make([]float32, bias.Size()))
	if err := m.SetInitializer(zeros); err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	if err := m.Save(filepath.Join(dir, "zero-bias.onnx")); err != nil {
		log.Fatal(err)
	}
	back, _ := onnximport.Load(filepath.Join(dir, "zero-bias.onnx"))
	fmt.Println("fc.bias[0] =", back.Graph.Initializers["fc.bias"].Float[0])
	// Output:
	// opset 13 nodes 10
	// Conv /conv1/Conv
	// BatchNormalization /bn1/BatchNormalization
	// Relu /relu1/Relu
	// logits [8 10]
	// fc.bias[0] = 0
}
