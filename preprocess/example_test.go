package preprocess_test

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// A 40×30 image of one colour becomes a 3×2×2 example: resized (shorter side 4), center-cropped
// to 2×2, normalized per channel; the spec is recorded in a model's metadata as JSON.
func ExampleSpec_Image() {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	draw.Draw(img, img.Bounds(), &image.Uniform{C: color.RGBA{R: 255, G: 128, B: 0, A: 255}}, image.Point{}, draw.Src)
	spec := preprocess.Spec{Resize: 4, Crop: 2, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.5, 0.5, 0.5}}
	x, err := spec.Image(nil, img, []int{3, 2, 2})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", x)
	fmt.Println(spec.Marshal())
	// Output:
	// [1.000 1.000 1.000 1.000 0.004 0.004 0.004 0.004 -1.000 -1.000 -1.000 -1.000]
	// {"resize":4,"crop":2,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5]}
}
