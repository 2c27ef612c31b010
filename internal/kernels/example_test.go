package kernels_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
)

func ExampleConv() {
	g := gorgonia.NewGraph()
	x := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 1, 3, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9})), gorgonia.WithName("x"))
	w := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 0, 0, 1})), gorgonia.WithName("w"))
	y, err := kernels.Conv(x, w, nil, kernels.Window{}, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss := gorgonia.Must(gorgonia.Sum(y))
	grads, err := gorgonia.Grad(loss, w)
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("y:", y.Shape(), y.Value().Data())
	fmt.Println("dL/dw:", grads[0].Value().Data())
	// Output:
	// y: (1, 1, 2, 2) [6 8 12 14]
	// dL/dw: [12 16 24 28]
}

func ExampleBatchNorm() {
	g := gorgonia.NewGraph()
	vec := func(v ...float64) *tensor.Dense { return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v)) }
	x := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(4, 1), tensor.WithBacking([]float64{1, 2, 3, 6})), gorgonia.WithName("x"))
	scale := gorgonia.NodeFromAny(g, vec(1), gorgonia.WithName("scale"))
	bias := gorgonia.NodeFromAny(g, vec(0), gorgonia.WithName("bias"))
	// ONNX momentum 0.9 is PyTorch's 0.1.
	bn, err := kernels.NewBatchNorm("bn", vec(0), vec(1), 0.9, 1e-5, kernels.Train)
	if err != nil {
		fmt.Println(err)
		return
	}
	y, err := kernels.BatchNormalization(x, scale, bias, bn)
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	for _, mode := range []kernels.Mode{kernels.Train, kernels.TrainFrozen, kernels.Eval} {
		bn.SetMode(mode)
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		m, v := bn.Stats()
		fmt.Printf("%-12s y %.4f  running mean %.4f var %.4f\n", mode, y.Value().Data(), m[0], v[0])
	}
	// Output:
	// train        y [-1.0690 -0.5345 0.0000 1.6036]  running mean 0.3000 var 1.3667
	// train-frozen y [-1.0690 -0.5345 0.0000 1.6036]  running mean 0.3000 var 1.3667
	// eval         y [0.5988 1.4542 2.3096 4.8758]  running mean 0.3000 var 1.3667
}

func ExampleResizeNearest() {
	g := gorgonia.NewGraph()
	x := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float32{1, 2, 3, 4})), gorgonia.WithName("x"))
	y, err := kernels.ResizeNearest(x, kernels.Resize{Scales: []float64{1, 1, 2, 2}, CoordinateTransformationMode: "asymmetric", NearestMode: "floor"})
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(y.Value())
	// Output:
	// ⎡1  1  2  2⎤
	// ⎢1  1  2  2⎥
	// ⎢3  3  4  4⎥
	// ⎣3  3  4  4⎦
}
