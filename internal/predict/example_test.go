package predict_test

import (
	"fmt"

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
