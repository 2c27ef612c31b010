package kernels

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestPoolFixtures(t *testing.T) {
	for _, c := range loadFixtures(t, "pool.json") {
		c := c
		build := func(tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
				switch c.Op {
				case "MaxPool":
					return MaxPool(in["x"], c.window())
				case "AveragePool":
					return AveragePool(in["x"], c.window(), c.num("count_include_pad", 0) != 0)
				default:
					return GlobalAveragePool(in["x"])
				}
			}
		}
		t.Run(describe(&c), func(t *testing.T) {
			runFixture(t, &c, []string{"x"}, build)
			fdCheck(t, &c, []string{"x"}, build(tensor.Float64))
		})
	}
}

// TestWindowSizes checks output sizes and resolved pads against hand-computed values.
func TestWindowSizes(t *testing.T) {
	for _, c := range []struct {
		name     string
		in       tensor.Shape
		win      Window
		oh, ow   int
		pads     [4]int // top, left, bottom, right
		wantErr  bool
		kernelWH []int
	}{
		{name: "2x2 s2", in: tensor.Shape{1, 1, 28, 28}, win: Window{Kernel: []int{2, 2}, Strides: []int{2, 2}}, oh: 14, ow: 14},
		{name: "3x3 pad1", in: tensor.Shape{1, 1, 28, 28}, win: Window{Kernel: []int{3, 3}, Pads: []int{1, 1, 1, 1}}, oh: 28, ow: 28, pads: [4]int{1, 1, 1, 1}},
		// (5+2−2)/2 = 2.5 → 3 (+1 = 4) but the 4th window would start at 6 ≥ 5+1: dropped.
		{name: "ceil drop", in: tensor.Shape{1, 1, 5, 5}, win: Window{Kernel: []int{2, 2}, Strides: []int{2, 2}, Pads: []int{1, 1, 1, 1}, CeilMode: true}, oh: 3, ow: 3, pads: [4]int{1, 1, 1, 1}},
		{name: "ceil keeps", in: tensor.Shape{1, 1, 6, 7}, win: Window{Kernel: []int{3, 3}, Strides: []int{2, 2}, CeilMode: true}, oh: 3, ow: 3},
		// SAME_UPPER: out = ceil(7/2) = 4; total pad = 3·2+3−7 = 2 → 1,1; width ceil(6/2)=3, pad 2·2+3−6 = 1 → 0,1.
		{name: "same upper", in: tensor.Shape{1, 1, 7, 6}, win: Window{Kernel: []int{3, 3}, Strides: []int{2, 2}, AutoPad: "SAME_UPPER"}, oh: 4, ow: 3, pads: [4]int{1, 0, 1, 1}},
		{name: "same lower", in: tensor.Shape{1, 1, 7, 6}, win: Window{Kernel: []int{3, 3}, Strides: []int{2, 2}, AutoPad: "SAME_LOWER"}, oh: 4, ow: 3, pads: [4]int{1, 1, 1, 0}},
		{name: "valid dilated", in: tensor.Shape{1, 1, 9, 9}, win: Window{Kernel: []int{3, 3}, Dilations: []int{2, 3}, AutoPad: "VALID"}, oh: 5, ow: 3},
		// (10+2+1−3)/2+1 = 6.
		{name: "1-D", in: tensor.Shape{2, 3, 10}, win: Window{Kernel: []int{3}, Strides: []int{2}, Pads: []int{2, 1}}, oh: 1, ow: 6, pads: [4]int{0, 2, 0, 1}},
		{name: "kernel too big", in: tensor.Shape{1, 1, 2, 2}, win: Window{Kernel: []int{3, 3}}, wantErr: true},
		{name: "3-D", in: tensor.Shape{1, 1, 2, 2, 2}, win: Window{Kernel: []int{1, 1, 1}}, wantErr: true},
		{name: "kernel rank", in: tensor.Shape{1, 1, 4, 4}, win: Window{Kernel: []int{2}}, wantErr: true},
	} {
		g, err := c.win.resolve(c.in, nil)
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if g.oh != c.oh || g.ow != c.ow || [4]int{g.pt, g.pl, g.pb, g.pr} != c.pads {
			t.Errorf("%s: out %d×%d pads %v, want %d×%d %v", c.name, g.oh, g.ow, [4]int{g.pt, g.pl, g.pb, g.pr}, c.oh, c.ow, c.pads)
		}
	}
}

func TestPoolErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 2, 4, 4), gorgonia.WithName("x"))
	if _, err := MaxPool(x, Window{}); err == nil {
		t.Error("MaxPool without kernel: no error")
	}
	if _, err := AveragePool(x, Window{Kernel: []int{5, 5}}, false); err == nil {
		t.Error("AveragePool with a kernel larger than the input: no error")
	}
	v := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(4), gorgonia.WithName("v"))
	if _, err := GlobalAveragePool(v); err == nil {
		t.Error("GlobalAveragePool of a vector: no error")
	}
}
