package kernels

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGroupNormFixtures checks GroupNormalization against the torch references of
// testdata/groupnorm.json (F.instance_norm and F.group_norm, written by groupnorm_make.py): the
// forward output and the gradients with respect to x, scale and bias in float64 and float32, then
// the float64 gradients against central finite differences.
func TestGroupNormFixtures(t *testing.T) {
	cases := loadFixtures(t, "groupnorm.json")
	for _, c := range cases {
		c := c
		groups := int(c.num("groups", 0))
		if c.Op == "InstanceNormalization" && groups != c.Inputs["x"].Shape[1] {
			t.Fatalf("%s: instance norm with %d groups for %d channels", c.Name, groups, c.Inputs["x"].Shape[1])
		}
		build := func(tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
				return GroupNormalization(in["x"], in["scale"], in["B"], groups, c.num("epsilon", 1e-5))
			}
		}
		t.Run(describe(&c), func(t *testing.T) {
			runFixture(t, &c, c.gradNames(), build)
			fdCheck(t, &c, c.gradNames(), build(tensor.Float64))
		})
	}
}

// TestGroupNormClosedForm checks one block by hand: x = (1, 2, 3, 6) in one group of two
// channels, mean 3, population variance 3.5; per-group scale 2 and bias 0.5.
func TestGroupNormClosedForm(t *testing.T) {
	for _, tc := range []struct {
		name         string
		scale, bias  []float64
		scaleOf      func(c int) float64
		biasOf       func(c int) float64
		wantScaleLen int
	}{
		{"per group", []float64{2}, []float64{0.5}, func(int) float64 { return 2 }, func(int) float64 { return 0.5 }, 1},
		{"per channel", []float64{2, -1}, []float64{0.5, 1}, func(c int) float64 { return []float64{2, -1}[c] }, func(c int) float64 { return []float64{0.5, 1}[c] }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 2, 2), tensor.WithBacking([]float64{1, 2, 3, 6})), gorgonia.WithName("x"))
			s := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(len(tc.scale)), tensor.WithBacking(tc.scale)), gorgonia.WithName("s"))
			b := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(len(tc.bias)), tensor.WithBacking(tc.bias)), gorgonia.WithName("b"))
			y, err := GroupNormalization(x, s, b, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := gorgonia.Grad(gorgonia.Must(gorgonia.Sum(y)), s, b)
			if err != nil {
				t.Fatal(err)
			}
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			got := f64s(t, y.Value())
			for i, xi := range []float64{1, 2, 3, 6} {
				c := i / 2
				if want := tc.scaleOf(c)*(xi-3)/math.Sqrt(3.5) + tc.biasOf(c); math.Abs(got[i]-want) > 1e-14 {
					t.Errorf("y[%d] = %v, want %v", i, got[i], want)
				}
			}
			// dL/dbias counts the elements sharing each bias; dL/dscale sums x̂ over them: per
			// group Σx̂ = 0, per channel (−2, −1)/√3.5 and (0, 3)/√3.5.
			db := f64s(t, gs[1].Value())
			ds := f64s(t, gs[0].Value())
			if len(ds) != tc.wantScaleLen {
				t.Fatalf("dscale has %d elements, want %d", len(ds), tc.wantScaleLen)
			}
			wantDS, wantDB := []float64{0}, []float64{4}
			if tc.wantScaleLen == 2 {
				wantDS, wantDB = []float64{-3 / math.Sqrt(3.5), 3 / math.Sqrt(3.5)}, []float64{2, 2}
			}
			for i := range wantDS {
				if math.Abs(ds[i]-wantDS[i]) > 1e-14 || math.Abs(db[i]-wantDB[i]) > 1e-14 {
					t.Errorf("dscale %v dbias %v, want %v %v", ds, db, wantDS, wantDB)
				}
			}
		})
	}
}

func TestGroupNormErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 6, 3, 3), gorgonia.WithName("x"))
	vec := func(name string, n int) *gorgonia.Node {
		return gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(n), gorgonia.WithName(name))
	}
	v1 := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(6), gorgonia.WithName("v1"))
	for _, tc := range []struct {
		name        string
		x           *gorgonia.Node
		scale, bias *gorgonia.Node
		groups      int
		eps         float64
	}{
		{"4 groups of 6 channels", x, nil, nil, 4, 1e-5},
		{"0 groups", x, nil, nil, 0, 1e-5},
		{"scale of 4 (neither 6 channels nor 3 groups)", x, vec("s4", 4), nil, 3, 1e-5},
		{"scale per channel, bias per group", x, vec("s6", 6), vec("b3", 3), 3, 1e-5},
		{"negative epsilon", x, nil, nil, 3, -1},
		{"NaN epsilon", x, nil, nil, 3, math.NaN()},
		{"rank-1 input", v1, nil, nil, 1, 1e-5},
	} {
		if _, err := GroupNormalization(tc.x, tc.scale, tc.bias, tc.groups, tc.eps); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// Running the op on a tensor of another shape is an error, not a panic.
	y, err := GroupNormalization(x, nil, nil, 3, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	var stats *gorgonia.Node
	for _, n := range g.AllNodes() {
		if _, ok := n.Op().(*normStatsOp); ok {
			stats = n
		}
	}
	if stats == nil || y == nil {
		t.Fatal("no statistics node in the graph")
	}
	if _, err := stats.Op().Do(tensor.New(tensor.WithShape(2, 6, 3, 2), tensor.Of(tensor.Float32))); err == nil {
		t.Error("statistics of a 2×6×3×2 input on an op built for 2×6×3×3: no error")
	}
}

func ExampleGroupNormalization() {
	g := gorgonia.NewGraph()
	// One example, four channels of two values, two groups: channels 0–1 and 2–3.
	x := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1, 4, 2), tensor.WithBacking([]float64{
		1, 3, 1, 3, // group 0: mean 2, variance 1
		0, 0, 4, 4, // group 1: mean 2, variance 4
	})), gorgonia.WithName("x"))
	// Per-channel scale (InstanceNormalization, GroupNormalization opset 21); a 2-element scale
	// would be per group (opset 18).
	scale := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(4), tensor.WithBacking([]float64{1, 1, 1, 10})), gorgonia.WithName("scale"))
	y, err := GroupNormalization(x, scale, nil, 2, 0)
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
	fmt.Println(y.Value().Data())
	// Output:
	// [-1 1 -1 1 -1 -1 10 10]
}
