package kernels

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sbinet/npyio"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gsNPY reads a float64 array written by testdata/gridsample_make.py.
func gsNPY(t *testing.T, name string) ([]float64, tensor.Shape) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var d []float64
	if err := r.Read(&d); err != nil {
		t.Fatal(err)
	}
	return d, tensor.Shape(append([]int{}, r.Header.Descr.Shape...))
}

func gsDense(dt tensor.Dtype, shape tensor.Shape, d []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		f := make([]float32, len(d))
		for i, v := range d {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(append([]float64{}, d...)))
}

func gsFloat64s(t *testing.T, v gorgonia.Value) []float64 {
	t.Helper()
	switch d := v.Data().(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	}
	t.Fatalf("value of type %T", v.Data())
	return nil
}

func gsMaxDiff(a, b []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range a {
		if d := math.Abs(a[i] - b[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

// TestGridSampleTorch checks the forward pass and both gradients against torch's grid_sample and
// autograd (testdata/gridsample_*.npy), in float64 and float32, with the gradients obtained through
// gorgonia.Grad and a TapeMachine as the trainer does.
func TestGridSampleTorch(t *testing.T) {
	x, xs := gsNPY(t, "gridsample_x.npy")
	grid, gs := gsNPY(t, "gridsample_grid.npy")
	dy, ys := gsNPY(t, "gridsample_dy.npy")
	for _, tc := range []struct {
		dt    tensor.Dtype
		align bool
		tol   float64
	}{
		{tensor.Float64, false, 1e-12},
		{tensor.Float64, true, 1e-12},
		{tensor.Float32, false, 2e-5},
		{tensor.Float32, true, 2e-5},
	} {
		t.Run(fmt.Sprintf("%v/align%t", tc.dt, tc.align), func(t *testing.T) {
			a := 0
			if tc.align {
				a = 1
			}
			wantY, _ := gsNPY(t, fmt.Sprintf("gridsample_y_align%d.npy", a))
			wantDx, _ := gsNPY(t, fmt.Sprintf("gridsample_dx_align%d.npy", a))
			wantDg, _ := gsNPY(t, fmt.Sprintf("gridsample_dgrid_align%d.npy", a))

			g := gorgonia.NewGraph()
			xn := gorgonia.NewTensor(g, tc.dt, 4, gorgonia.WithShape(xs...), gorgonia.WithName("x"), gorgonia.WithValue(gsDense(tc.dt, xs, x)))
			gn := gorgonia.NewTensor(g, tc.dt, 4, gorgonia.WithShape(gs...), gorgonia.WithName("grid"), gorgonia.WithValue(gsDense(tc.dt, gs, grid)))
			dyn := gorgonia.NewConstant(gsDense(tc.dt, ys, dy), gorgonia.WithName("dy"))
			y, err := GridSample(xn, gn, tc.align)
			if err != nil {
				t.Fatal(err)
			}
			loss := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, dyn))))
			if _, err := gorgonia.Grad(loss, xn, gn); err != nil {
				t.Fatal(err)
			}
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			dx, err := xn.Grad()
			if err != nil {
				t.Fatal(err)
			}
			dg, err := gn.Grad()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what      string
				got, want []float64
			}{
				{"y", gsFloat64s(t, y.Value()), wantY},
				{"dL/dx", gsFloat64s(t, dx), wantDx},
				{"dL/dgrid", gsFloat64s(t, dg), wantDg},
			} {
				if len(c.got) != len(c.want) {
					t.Fatalf("%s: %d values, torch has %d", c.what, len(c.got), len(c.want))
				}
				if d, at := gsMaxDiff(c.got, c.want); d > tc.tol {
					t.Errorf("%s differs from torch by %g at %d (got %v, want %v)", c.what, d, at, c.got[at], c.want[at])
				}
			}
		})
	}
}

// TestGridSampleFiniteDifferences checks both gradients against central differences of
// L = Σ y·dy in float64, at random points away from pixel boundaries (torch's data), for both
// corner conventions.
func TestGridSampleFiniteDifferences(t *testing.T) {
	x, xs := gsNPY(t, "gridsample_x.npy")
	grid, gs := gsNPY(t, "gridsample_grid.npy")
	dy, _ := gsNPY(t, "gridsample_dy.npy")
	for _, align := range []bool{false, true} {
		cfg := gridCfg{xs: xs, gs: gs, ys: tensor.Shape{xs[0], xs[1], gs[1], gs[2]}, align: align}
		loss := func(x, grid []float64) float64 {
			y := make([]float64, cfg.ys.TotalSize())
			gridSample(&cfg, x, grid, y, nil, nil, nil)
			s := 0.0
			for i := range y {
				s += y[i] * dy[i]
			}
			return s
		}
		dx := make([]float64, len(x))
		gridSample(&cfg, nil, grid, nil, dy, dx, nil)
		dg := make([]float64, len(grid))
		gridSample(&cfg, x, grid, nil, dy, nil, dg)
		const h = 1e-6
		for _, c := range []struct {
			what    string
			vals    []float64
			grad    []float64
			perturb func(v []float64) float64
		}{
			{"x", x, dx, func(v []float64) float64 { return loss(v, grid) }},
			{"grid", grid, dg, func(v []float64) float64 { return loss(x, v) }},
		} {
			worst := 0.0
			for i := range c.vals {
				v := append([]float64{}, c.vals...)
				v[i] += h
				up := c.perturb(v)
				v[i] -= 2 * h
				fd := (up - c.perturb(v)) / (2 * h)
				if d := math.Abs(fd - c.grad[i]); d > worst {
					worst = d
				}
			}
			if worst > 1e-6 {
				t.Errorf("align %t: dL/d%s differs from finite differences by %g", align, c.what, worst)
			}
		}
	}
}

// TestGridSampleHandComputed checks the corner conventions on a 2×3 image where the answer is
// known by hand.
func TestGridSampleHandComputed(t *testing.T) {
	img := []float64{1, 2, 3, 4, 5, 6} // 1×1×2×3
	for _, tc := range []struct {
		name  string
		align bool
		grid  []float64 // (x, y) pairs, 1×1×len/2×2
		want  []float64
	}{
		// align_corners 1: −1 and 1 are the corner pixel centres.
		{"align1 corners", true, []float64{-1, -1, 1, -1, -1, 1, 1, 1}, []float64{1, 3, 4, 6}},
		{"align1 centre", true, []float64{0, 0}, []float64{3.5}},
		// align_corners 0: pixel j's centre is at (2j+1)/W − 1; −1 is the outer edge, where half the
		// weight falls on the zero padding.
		{"align0 centres", false, []float64{-2.0 / 3, -0.5, 0, 0.5, 2.0 / 3, 0.5}, []float64{1, 5, 6}},
		{"align0 edge", false, []float64{-1, -0.5}, []float64{0.5}},
		{"outside", false, []float64{3, 0, math.NaN(), 0}, []float64{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := len(tc.grid) / 2
			cfg := gridCfg{xs: tensor.Shape{1, 1, 2, 3}, gs: tensor.Shape{1, 1, k, 2}, ys: tensor.Shape{1, 1, 1, k}, align: tc.align}
			y := make([]float64, k)
			gridSample(&cfg, img, tc.grid, y, nil, nil, nil)
			if d, at := gsMaxDiff(y, tc.want); d > 1e-12 {
				t.Errorf("got %v, want %v (differs at %d)", y, tc.want, at)
			}
		})
	}
}

func TestGridSampleErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(2, 3, 5, 7), gorgonia.WithName("x"))
	for _, tc := range []struct {
		name string
		grid tensor.Shape
	}{
		{"batch mismatch", tensor.Shape{1, 4, 6, 2}},
		{"last axis not 2", tensor.Shape{2, 4, 6, 3}},
	} {
		grid := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(tc.grid...), gorgonia.WithName("grid_"+tc.name))
		if _, err := GridSample(x, grid, false); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	x3 := gorgonia.NewTensor(g, tensor.Float64, 3, gorgonia.WithShape(2, 5, 7), gorgonia.WithName("x3"))
	grid := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(2, 4, 6, 2), gorgonia.WithName("grid"))
	if _, err := GridSample(x3, grid, false); err == nil {
		t.Error("3-D input: no error")
	}
	// Running the op on values of another shape is an error, not a panic.
	op := &gridSampleOp{gridCfg: gridCfg{xs: tensor.Shape{2, 3, 5, 7}, gs: tensor.Shape{2, 4, 6, 2}, ys: tensor.Shape{2, 3, 4, 6}}}
	if _, err := op.Do(tensor.New(tensor.WithShape(1, 3, 5, 7), tensor.Of(tensor.Float64)),
		tensor.New(tensor.WithShape(2, 4, 6, 2), tensor.Of(tensor.Float64))); err == nil {
		t.Error("Do with a wrong input shape: no error")
	}
}
