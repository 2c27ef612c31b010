package kernels

import (
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestConvFixtures(t *testing.T) {
	for _, c := range loadFixtures(t, "conv.json") {
		c := c
		build := func(tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv(in["x"], in["w"], in["b"], c.window(), int(c.num("group", 1)))
			}
		}
		t.Run(c.Name, func(t *testing.T) {
			runFixture(t, &c, c.gradNames(), build)
			fdCheck(t, &c, c.gradNames(), build(tensor.Float64))
		})
	}
}

// TestConvMatchesGorgonia compares forward values and gradients with gorgonia's own Conv2d (an
// independent im2col implementation) on a cnn-bn-like layer.
func TestConvMatchesGorgonia(t *testing.T) {
	x, w := randDense(tensor.Float64, 3, 4, 9, 8), randDense(tensor.Float64, 5, 4, 3, 3)
	dy := randDense(tensor.Float64, 3, 5, 9, 8)
	run := func(conv func(x, w *gorgonia.Node) (*gorgonia.Node, error)) (y, dx, dw []float64) {
		g := gorgonia.NewGraph()
		xn := gorgonia.NodeFromAny(g, x.Clone().(*tensor.Dense), gorgonia.WithName("x"))
		wn := gorgonia.NodeFromAny(g, w.Clone().(*tensor.Dense), gorgonia.WithName("w"))
		yn, err := conv(xn, wn)
		if err != nil {
			t.Fatal(err)
		}
		dyn := gorgonia.NodeFromAny(g, dy, gorgonia.WithName("dy"))
		loss := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(yn, dyn))))
		gs, err := gorgonia.Grad(loss, xn, wn)
		if err != nil {
			t.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return f64s(t, yn.Value()), f64s(t, gs[0].Value()), f64s(t, gs[1].Value())
	}
	y1, dx1, dw1 := run(func(x, w *gorgonia.Node) (*gorgonia.Node, error) {
		return Conv(x, w, nil, Window{Pads: []int{1, 1, 1, 1}}, 1)
	})
	y2, dx2, dw2 := run(func(x, w *gorgonia.Node) (*gorgonia.Node, error) {
		return gorgonia.Conv2d(x, w, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
	})
	for _, c := range []struct {
		what      string
		got, want []float64
	}{{"y", y1, y2}, {"dx", dx1, dx2}, {"dw", dw1, dw2}} {
		if m := testutil.Compare(c.got, c.want, 1e-12, 1e-10); m.Ratio > 1 {
			i := m.RatioAt
			t.Errorf("%s[%d] = %g, gorgonia.Conv2d gives %g", c.what, i, c.got[i], c.want[i])
		}
	}
}

func TestConvErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 4, 5, 5), gorgonia.WithName("x"))
	for _, c := range []struct {
		name  string
		w     tensor.Shape
		win   Window
		group int
	}{
		{"channels", tensor.Shape{3, 3, 3, 3}, Window{}, 1},
		{"group does not divide", tensor.Shape{3, 2, 3, 3}, Window{}, 2},
		{"rank", tensor.Shape{3, 4, 3}, Window{}, 1},
		{"kernel_shape mismatch", tensor.Shape{3, 4, 3, 3}, Window{Kernel: []int{2, 2}}, 1},
		{"too much kernel", tensor.Shape{3, 4, 7, 3}, Window{}, 1},
		{"pads count", tensor.Shape{3, 4, 3, 3}, Window{Pads: []int{1, 1}}, 1},
		{"negative pads", tensor.Shape{3, 4, 3, 3}, Window{Pads: []int{-1, 0, 0, 0}}, 1},
		{"stride 0", tensor.Shape{3, 4, 3, 3}, Window{Strides: []int{0, 1}}, 1},
		{"auto_pad", tensor.Shape{3, 4, 3, 3}, Window{AutoPad: "SAME"}, 1},
		{"ceil mode", tensor.Shape{3, 4, 3, 3}, Window{CeilMode: true}, 1},
	} {
		w := gorgonia.NewTensor(g, tensor.Float32, len(c.w), gorgonia.WithShape(c.w...), gorgonia.WithName("w"+c.name))
		if _, err := Conv(x, w, nil, c.win, c.group); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestConvDoChecksInputs runs a built op on values of the wrong shape and type.
func TestConvDoChecksInputs(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(1, 2, 5, 5), gorgonia.WithName("x"))
	w := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(3, 2, 3, 3), gorgonia.WithName("w"))
	y, err := Conv(x, w, nil, Window{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	op := y.Op()
	for _, c := range []struct {
		name string
		vs   []gorgonia.Value
	}{
		{"shape", []gorgonia.Value{tensor.New(tensor.WithShape(1, 2, 6, 5), tensor.Of(tensor.Float64)), tensor.New(tensor.WithShape(3, 2, 3, 3), tensor.Of(tensor.Float64))}},
		{"mixed types", []gorgonia.Value{tensor.New(tensor.WithShape(1, 2, 5, 5), tensor.Of(tensor.Float64)), tensor.New(tensor.WithShape(3, 2, 3, 3), tensor.Of(tensor.Float32))}},
		{"int", []gorgonia.Value{tensor.New(tensor.WithShape(1, 2, 5, 5), tensor.Of(tensor.Int)), tensor.New(tensor.WithShape(3, 2, 3, 3), tensor.Of(tensor.Int))}},
		{"arity", []gorgonia.Value{tensor.New(tensor.WithShape(1, 2, 5, 5), tensor.Of(tensor.Float64))}},
	} {
		if _, err := op.Do(c.vs...); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
