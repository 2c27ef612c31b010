package kernels

import (
	"runtime"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestConvChannelSplit checks a late-layer convolution (small images, many channels, with bias),
// which oneDNN runs with its channels split over two workers (dnnlSplit), against central
// differences of the loss Σ y ⊙ r (x and w), and its forward output and three gradients against
// the same convolution split by images (dnnlSplitOn false).
func TestConvChannelSplit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	win := Window{Pads: []int{1, 1, 1, 1}}
	xs, ws := []int{4, 32, 2, 2}, []int{64, 32, 3, 3}
	testConvFloat32FiniteDifferences(t, xs, ws, win, 1, [3]bool{true, true, true}, [3]bool{})
	run := func(split bool) (vals [4][]float64, ran [3]bool) {
		defer func(b bool) { dnnlSplitOn = b }(dnnlSplitOn)
		dnnlSplitOn = split
		g := gorgonia.NewGraph()
		x := gorgonia.NodeFromAny(g, randDense(tensor.Float32, xs...), gorgonia.WithName("x"))
		w := gorgonia.NodeFromAny(g, randDense(tensor.Float32, ws...), gorgonia.WithName("w"))
		b := gorgonia.NodeFromAny(g, randDense(tensor.Float32, ws[0]), gorgonia.WithName("b"))
		y, err := Conv(x, w, b, win, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := gorgonia.NodeFromAny(g, randDense(tensor.Float32, y.Shape()...), gorgonia.WithName("r"))
		loss := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, r))))
		grads, err := gorgonia.Grad(loss, x, w, b)
		if err != nil {
			t.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vals = [4][]float64{f64s(t, y.Value()), f64s(t, grads[0].Value()), f64s(t, grads[1].Value()), f64s(t, grads[2].Value())}
		ran[0] = y.Op().(*convOp).dn.splitRan()
		for i, gn := range grads[:2] {
			ran[1+i] = gn.Op().(*convGradOp).dn.splitRan()
		}
		return vals, ran
	}
	split, ran := run(true)
	byImages, ranOff := run(false)
	if strings.HasPrefix(convBackend, "oneDNN") && (ran != [3]bool{true, true, true} || ranOff != [3]bool{}) {
		t.Fatalf("channel split ran in (forward, input gradient, weight gradient): %v with dnnlSplit, %v without; want all, none", ran, ranOff)
	}
	for i, name := range []string{"y", "dL/dx", "dL/dw", "dL/db"} {
		scale := 0.0
		for _, v := range byImages[i] {
			scale = max(scale, abs(v))
		}
		if d := maxAbsDiff(split[i], byImages[i]); len(split[i]) != len(byImages[i]) || d > 1e-5*scale {
			t.Errorf("%s: split by channels differs from split by images by %g (scale %g)", name, d, scale)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
