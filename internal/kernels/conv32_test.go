package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestConvFloat32FiniteDifferences checks the float32 convolution gradients — oneDNN's kernels in
// the default build, the Go kernels with -tags purego — against central differences of the loss
// Σ y ⊙ r. The loss is linear in x and in w, so central differences are exact up to float32
// rounding even with a large step. In the default build it also checks that oneDNN ran all three
// passes where it has JIT kernels, so that the test covers that path.
func TestConvFloat32FiniteDifferences(t *testing.T) {
	all := [3]bool{true, true, true}
	tests := []struct {
		name  string
		x, w  []int
		win   Window
		group int
		// onDNNL says which of forward, input gradient and weight gradient must run on oneDNN in
		// the default build; isaDependent marks the passes whose path depends on the CPU: oneDNN
		// 2.6 on AVX2 offers only im2col + gemm for the input gradient of the 3-channel 7×7 stem
		// and the weight gradient of a dilated convolution (those fall back to the Go kernels,
		// checked here too), on AVX-512 it has JIT kernels for them. Either way the gradients are
		// checked.
		onDNNL, isaDependent [3]bool
	}{
		{"3x3 pad 1", []int{4, 8, 10, 10}, []int{16, 8, 3, 3}, Window{Pads: []int{1, 1, 1, 1}}, 1, all, [3]bool{}},
		{"3x3 stride 2 asymmetric pads", []int{4, 8, 11, 9}, []int{8, 8, 3, 3}, Window{Strides: []int{2, 2}, Pads: []int{1, 0, 2, 1}}, 1, all, [3]bool{}},
		{"1x1", []int{4, 16, 8, 8}, []int{8, 16, 1, 1}, Window{}, 1, all, [3]bool{}},
		{"depthwise 3x3", []int{4, 16, 9, 9}, []int{16, 1, 3, 3}, Window{Pads: []int{1, 1, 1, 1}}, 16, all, [3]bool{}},
		{"7x7 stride 2, 3 input channels", []int{4, 3, 20, 20}, []int{8, 3, 7, 7}, Window{Strides: []int{2, 2}, Pads: []int{3, 3, 3, 3}}, 1, all, [3]bool{false, true, false}},
		{"dilated 3x3", []int{4, 8, 12, 12}, []int{8, 8, 3, 3}, Window{Dilations: []int{2, 2}, Pads: []int{2, 2, 2, 2}}, 1, all, [3]bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{dnnlChunkBytes, 1} {
				t.Run(fmt.Sprintf("chunk %d bytes", chunk), func(t *testing.T) {
					defer func(b int) { dnnlChunkBytes = b }(dnnlChunkBytes)
					dnnlChunkBytes = chunk // 1: oneDNN runs one image at a time
					testConvFloat32FiniteDifferences(t, tt.x, tt.w, tt.win, tt.group, tt.onDNNL, tt.isaDependent)
				})
			}
		})
	}
}

func testConvFloat32FiniteDifferences(t *testing.T, xs, ws []int, win Window, group int, onDNNL, isaDependent [3]bool) {
	t.Helper()
	c := newConvLoss(t, tensor.Float32, xs, ws, win, group)
	x, w, y, loss, grads := c.x, c.w, c.y, c.loss, c.grads
	vm := gorgonia.NewTapeMachine(c.g)
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return float64(loss.Value().Data().(float32))
	}
	run()
	analytic := map[string][]float64{"x": f64s(t, grads[0].Value()), "w": f64s(t, grads[1].Value())}
	if strings.HasPrefix(convBackend, "oneDNN") {
		var ops []*dnnlConv
		ops = append(ops, &y.Op().(*convOp).dn)
		for _, gn := range grads {
			if op, ok := gn.Op().(*convGradOp); ok {
				ops = append(ops, &op.dn)
			}
		}
		if len(ops) != 3 {
			t.Fatalf("found %d convolution ops, want forward and two gradients", len(ops))
		}
		for i, d := range ops {
			if d.active() != onDNNL[i] && !isaDependent[i] {
				t.Errorf("pass %d of 3 (forward, input gradient, weight gradient): on oneDNN %v, want %v (op %v)", i+1, d.active(), onDNNL[i], []*gorgonia.Node{y, grads[0], grads[1]}[i].Op())
			}
		}
	}
	const step = 1.0
	for name, n := range map[string]*gorgonia.Node{"x": x, "w": w} {
		vals := n.Value().Data().([]float32)
		worst, at := 0.0, -1
		for k := 0; k < 24; k++ {
			i := (k * 7919) % len(vals)
			orig := vals[i]
			vals[i] = orig + step
			up := run()
			vals[i] = orig - step
			down := run()
			vals[i] = orig
			fd := (up - down) / (2 * step)
			if e := math.Abs(fd-analytic[name][i]) / (1 + math.Abs(fd)); e > worst {
				worst, at = e, i
			}
		}
		if worst > 2e-3 {
			t.Errorf("dL/d%s[%d] = %g differs from central differences by %.3g (relative)", name, at, analytic[name][at], worst)
		}
	}
}
