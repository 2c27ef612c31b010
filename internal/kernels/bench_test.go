package kernels

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// benchGraph times one forward and backward pass (TapeMachine, Reset per step) of a graph with
// L = Σ y; wrt are the nodes differentiated.
func benchGraph(b *testing.B, g *gorgonia.ExprGraph, y *gorgonia.Node, wrt ...*gorgonia.Node) {
	loss := gorgonia.Must(gorgonia.Sum(y))
	if _, err := gorgonia.Grad(loss, wrt...); err != nil {
		b.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil { // warm-up: scratch buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

// The two convolutions of the protocol's cnn-bn at batch 64, 3×3, pad 1, float32.
var convBenchShapes = []struct {
	name string
	x, w tensor.Shape
	dx   bool // the layer's input needs a gradient (not the first layer)
}{
	{"64x1x28x28-32", tensor.Shape{64, 1, 28, 28}, tensor.Shape{32, 1, 3, 3}, false},
	{"64x32x14x14-64", tensor.Shape{64, 32, 14, 14}, tensor.Shape{64, 32, 3, 3}, true},
}

func BenchmarkConvForwardBackward(b *testing.B) {
	for _, s := range convBenchShapes {
		for _, impl := range []string{"kernels", "gorgonia"} {
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				g := gorgonia.NewGraph()
				x := gorgonia.NodeFromAny(g, randDense(tensor.Float32, s.x...), gorgonia.WithName("x"))
				w := gorgonia.NodeFromAny(g, randDense(tensor.Float32, s.w...), gorgonia.WithName("w"))
				var y *gorgonia.Node
				var err error
				if impl == "kernels" {
					y, err = Conv(x, w, nil, Window{Pads: []int{1, 1, 1, 1}}, 1)
				} else {
					y, err = gorgonia.Conv2d(x, w, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
				}
				if err != nil {
					b.Fatal(err)
				}
				wrt := []*gorgonia.Node{w}
				if s.dx {
					wrt = append(wrt, x)
				}
				benchGraph(b, g, y, wrt...)
			})
		}
	}
}

// BenchmarkBatchNormForwardBackward times training-mode BatchNormalization on the first cnn-bn
// activation (64×32×28×28, float32), gradients w.r.t. input, scale and bias.
func BenchmarkBatchNormForwardBackward(b *testing.B) {
	xs := tensor.Shape{64, 32, 28, 28}
	for _, impl := range []string{"kernels", "gorgonia"} {
		b.Run(impl, func(b *testing.B) {
			g := gorgonia.NewGraph()
			x := gorgonia.NodeFromAny(g, randDense(tensor.Float32, xs...), gorgonia.WithName("x"))
			var y, scale, bias *gorgonia.Node
			if impl == "kernels" {
				scale = gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(32), tensor.WithBacking(ones32(32))), gorgonia.WithName("scale"))
				bias = gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(32), tensor.Of(tensor.Float32)), gorgonia.WithName("bias"))
				bn, err := NewBatchNorm("bn", tensor.New(tensor.WithShape(32), tensor.Of(tensor.Float32)),
					tensor.New(tensor.WithShape(32), tensor.WithBacking(ones32(32))), 0.9, 1e-5, Train)
				if err != nil {
					b.Fatal(err)
				}
				if y, err = BatchNormalization(x, scale, bias, bn); err != nil {
					b.Fatal(err)
				}
			} else {
				scale = gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 32, 1, 1), tensor.WithBacking(ones32(32))), gorgonia.WithName("scale"))
				bias = gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 32, 1, 1), tensor.Of(tensor.Float32)), gorgonia.WithName("bias"))
				var err error
				if y, _, _, _, err = gorgonia.BatchNorm(x, scale, bias, 0.1, 1e-5); err != nil {
					b.Fatal(err)
				}
			}
			benchGraph(b, g, y, x, scale, bias)
		})
	}
}

func ones32(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// BenchmarkMaxPoolForwardBackward times the first cnn-bn max pooling (2×2, stride 2, on
// 64×32×28×28, float32).
func BenchmarkMaxPoolForwardBackward(b *testing.B) {
	for _, impl := range []string{"kernels", "gorgonia"} {
		b.Run(impl, func(b *testing.B) {
			g := gorgonia.NewGraph()
			x := gorgonia.NodeFromAny(g, randDense(tensor.Float32, 64, 32, 28, 28), gorgonia.WithName("x"))
			var y *gorgonia.Node
			var err error
			if impl == "kernels" {
				y, err = MaxPool(x, Window{Kernel: []int{2, 2}, Strides: []int{2, 2}})
			} else {
				y, err = gorgonia.MaxPool2D(x, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
			}
			if err != nil {
				b.Fatal(err)
			}
			benchGraph(b, g, y, x)
		})
	}
}
