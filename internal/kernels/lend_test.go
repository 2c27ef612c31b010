package kernels

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// poisonLender lends fresh buffers filled with NaN and counts what it lends and gets back.
type poisonLender struct{ lent, returned int }

func (l *poisonLender) Lend(dt tensor.Dtype, n int) *tensor.Dense {
	l.lent++
	if dt == tensor.Float32 {
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(math.NaN())
		}
		return tensor.New(tensor.WithShape(n), tensor.WithBacking(b))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = math.NaN()
	}
	return tensor.New(tensor.WithShape(n), tensor.WithBacking(b))
}

func (l *poisonLender) Return(*tensor.Dense) { l.returned++ }

// TestConvLentScratch runs a convolution's forward pass and both gradients with their scratch
// memory (oneDNN's reordered copies and scratchpad in the default build, im2col columns and
// partial sums in the Go kernels) lent, NaN-filled, for each run, and checks that the results
// equal bit for bit those of the ops keeping their own scratch, that every lent buffer went back
// and that the ops keep no scratch between runs.
func TestConvLentScratch(t *testing.T) {
	tests := []struct {
		name  string
		dt    tensor.Dtype
		x, w  []int
		win   Window
		group int
	}{
		{"3x3 pad 1 float32", tensor.Float32, []int{4, 8, 10, 10}, []int{16, 8, 3, 3}, Window{Pads: []int{1, 1, 1, 1}}, 1},
		{"3x3 stride 2 float32, 3 input channels", tensor.Float32, []int{4, 3, 11, 9}, []int{8, 3, 3, 3}, Window{Strides: []int{2, 2}, Pads: []int{1, 0, 2, 1}}, 1},
		{"depthwise float32", tensor.Float32, []int{4, 16, 9, 9}, []int{16, 1, 3, 3}, Window{Pads: []int{1, 1, 1, 1}}, 16},
		{"3x3 pad 1 float64 (Go kernels)", tensor.Float64, []int{4, 8, 10, 10}, []int{16, 8, 3, 3}, Window{Pads: []int{1, 1, 1, 1}}, 1},
	}
	for _, tt := range tests {
		for _, chunk := range []int{dnnlChunkBytes, 1} {
			t.Run(fmt.Sprintf("%s, chunk %d bytes", tt.name, chunk), func(t *testing.T) {
				defer func(b int) { dnnlChunkBytes = b }(dnnlChunkBytes)
				dnnlChunkBytes = chunk // 1: oneDNN runs one image at a time
				testConvLentScratch(t, tt.dt, tt.x, tt.w, tt.win, tt.group)
			})
		}
	}
}

func testConvLentScratch(t *testing.T, dt tensor.Dtype, xs, ws []int, win Window, group int) {
	t.Helper()
	c := newConvLoss(t, dt, xs, ws, win, group)
	y, grads := c.y, c.grads
	vm := gorgonia.NewTapeMachine(c.g)
	defer vm.Close()
	run := func() [][]float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return [][]float64{f64s(t, y.Value()), f64s(t, grads[0].Value()), f64s(t, grads[1].Value())}
	}
	want := run()
	type user interface {
		SetLender(Lender)
		HeldScratch() int
	}
	ops := []user{y.Op().(*convOp)}
	for _, gn := range grads {
		if op, ok := gn.Op().(*convGradOp); ok {
			ops = append(ops, op)
		}
	}
	if len(ops) != 3 {
		t.Fatalf("found %d convolution ops, want forward and two gradients", len(ops))
	}
	l := &poisonLender{}
	for _, op := range ops {
		op.SetLender(l)
	}
	for round := 0; round < 2; round++ {
		got := run()
		for i, name := range []string{"y", "dx", "dw"} {
			if !bitsEqual(got[i], want[i]) {
				t.Errorf("round %d: %s with lent scratch differs (max |diff| %.3g)", round, name, maxAbsDiff(got[i], want[i]))
			}
		}
	}
	if l.lent == 0 {
		t.Error("no scratch was lent")
	}
	if l.returned != l.lent {
		t.Errorf("%d buffers lent, %d given back", l.lent, l.returned)
	}
	for _, op := range ops {
		if n := op.HeldScratch(); n != 0 {
			t.Errorf("%v keeps %d elements of scratch between runs", op, n)
		}
	}
}

// convLoss is a convolution y of random x and w with the loss Σ y ⊙ r (r random) and the
// gradients of the loss with respect to x and w.
type convLoss struct {
	g       *gorgonia.ExprGraph
	x, w, y *gorgonia.Node
	loss    *gorgonia.Node
	grads   gorgonia.Nodes
}

func newConvLoss(t *testing.T, dt tensor.Dtype, xs, ws []int, win Window, group int) convLoss {
	t.Helper()
	c := convLoss{g: gorgonia.NewGraph()}
	c.x = gorgonia.NodeFromAny(c.g, randDense(dt, xs...), gorgonia.WithName("x"))
	c.w = gorgonia.NodeFromAny(c.g, randDense(dt, ws...), gorgonia.WithName("w"))
	var err error
	if c.y, err = Conv(c.x, c.w, nil, win, group); err != nil {
		t.Fatal(err)
	}
	r := gorgonia.NodeFromAny(c.g, randDense(dt, c.y.Shape()...), gorgonia.WithName("r"))
	c.loss = gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(c.y, r))))
	if c.grads, err = gorgonia.Grad(c.loss, c.x, c.w); err != nil {
		t.Fatal(err)
	}
	return c
}

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range min(len(a), len(b)) {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
