package kernels

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestResizeFixtures(t *testing.T) {
	for _, c := range loadFixtures(t, "resize.json") {
		c := c
		r := Resize{
			Scales:                       c.floats("scales"),
			Sizes:                        c.ints("sizes"),
			CoordinateTransformationMode: c.str("coordinate_transformation_mode", ""),
			NearestMode:                  c.str("nearest_mode", ""),
		}
		build := func(tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) { return ResizeNearest(in["x"], r) }
		}
		t.Run(describe(&c), func(t *testing.T) {
			runFixture(t, &c, []string{"x"}, build)
			fdCheck(t, &c, []string{"x"}, build(tensor.Float64))
		})
	}
}

// TestNearestSource checks coordinate modes on hand-computed values.
func TestNearestSource(t *testing.T) {
	for _, c := range []struct {
		ctm, nm string
		in, out int
		scale   float64
		want    []int
	}{
		// half_pixel, ×2: c = (o+0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 → round: 0, 0, 1, 1.
		{"half_pixel", "round_prefer_floor", 2, 4, 2, []int{0, 0, 1, 1}},
		// ×0.5 from 4: c = (o+0.5)·2 − 0.5 = 0.5, 2.5 → prefer floor 0, 2; prefer ceil 1, 3.
		{"half_pixel", "round_prefer_floor", 4, 2, 0.5, []int{0, 2}},
		{"half_pixel", "round_prefer_ceil", 4, 2, 0.5, []int{1, 3}},
		// align_corners 3 → 5: c = o·2/4 = 0, 0.5, 1, 1.5, 2 → prefer ceil 0, 1, 1, 2, 2.
		{"align_corners", "round_prefer_ceil", 3, 5, 5.0 / 3, []int{0, 1, 1, 2, 2}},
		{"asymmetric", "ceil", 4, 3, 0.75, []int{0, 2, 3}},
		{"tf_half_pixel_for_nn", "floor", 4, 2, 0.5, []int{1, 3}},
		{"pytorch_half_pixel", "floor", 4, 1, 0.25, []int{0}},
	} {
		for o, want := range c.want {
			got, err := nearestSource(o, c.in, c.out, c.scale, c.ctm, c.nm)
			if err != nil || got != want {
				t.Errorf("%s %s %d→%d: output %d maps to %d (%v), want %d", c.ctm, c.nm, c.in, c.out, o, got, err, want)
			}
		}
	}
}

func TestResizeErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 1, 2, 2), gorgonia.WithName("x"))
	for name, r := range map[string]Resize{
		"none":        {},
		"scale count": {Scales: []float64{2, 2}},
		"zero scale":  {Scales: []float64{1, 1, 0, 2}},
		"empty":       {Scales: []float64{1, 1, 0.2, 1}},
		"mode":        {Scales: []float64{1, 1, 2, 2}, CoordinateTransformationMode: "tf_crop_and_resize"},
		"nearest":     {Scales: []float64{1, 1, 2, 2}, NearestMode: "round"},
	} {
		if _, err := ResizeNearest(x, r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
