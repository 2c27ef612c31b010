package ort_test

import (
	"fmt"
	"log"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

func ExampleSession() {
	// A model y = x·W + B with W = [[1, 0, -1], [2, 1, 0]] and B = [0.5, -1, 2]; ort.Open(path, nil)
	// loads one from a file the same way.
	model := orttest.Linear([]int64{2}, [][]float32{{1, 0, -1}, {2, 1, 0}}, []float32{0.5, -1, 2}, "")
	s, err := ort.OpenBytes(model, "linear", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Println("inputs:", s.Inputs())
	fmt.Println("outputs:", s.Outputs())

	out, err := s.Run(ort.Tensor{Name: "x", Shape: []int64{2, 2}, Float32: []float32{1, 2, 3, -1}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out[0].Name, out[0].Shape, out[0].Float32)

	_, err = s.Run(ort.Tensor{Name: "x", Shape: []int64{2, 3}, Float32: make([]float32, 6)})
	fmt.Println(err)
	// Output:
	// inputs: ["x" float32[-1 2]]
	// outputs: ["y" float32[-1 3]]
	// y [2 3] [5.5 1 1 1.5 -2 -1]
	// ort: model linear: input "x": shape [2 3] does not match the model's [-1 2]
}
