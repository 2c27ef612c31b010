package predict_test

import (
	"fmt"
	"log"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
)

func ExampleFitShape() {
	in := ort.Info{Name: "image", Type: "float32", Shape: []int64{-1, 1, 28, 28}}
	for _, shape := range [][]int64{{16, 1, 28, 28}, {1, 28, 28}, {28, 28}} {
		fitted, err := predict.FitShape(in, shape)
		fmt.Println(fitted, err)
	}
	// Output:
	// [16 1 28 28] <nil>
	// [1 1 28 28] <nil>
	// [] predict: input shape [28 28] does not match model input "image": want [N 1 28 28] (or [1 28 28] for one example)
}

func ExampleEvaluate() {
	// y = x·W + B: logits for 3 classes.
	model := orttest.Linear([]int64{2}, [][]float32{{1, 0, -1}, {2, 1, 0}}, []float32{0.5, -1, 2}, "")
	set := &dataset.Set{X: []float32{1, 2, 0, 0}, Shape: []int{2}, Y: []int{0, 2}, Classes: 3, Source: "two examples"}
	ev, err := predict.Evaluate(model, "linear", set, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("output", ev.Output, "softmax applied:", ev.SoftmaxApplied)
	for i := range ev.Scores {
		fmt.Printf("scores %v → probabilities %.3f\n", ev.Scores[i], ev.Probabilities[i])
	}
	// Output:
	// output y softmax applied: true
	// scores [5.5 1 1] → probabilities [0.978 0.011 0.011]
	// scores [0.5 -1 2] → probabilities [0.175 0.039 0.786]
}
