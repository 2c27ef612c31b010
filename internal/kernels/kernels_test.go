package kernels

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fixtures under testdata/ are written by testdata/gen.py (PyTorch and a numpy transcription
// of the ONNX specification, cross-checked against each other); the tests never run Python.

type fxArray struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type fxCase struct {
	Name         string             `json:"name"`
	Op           string             `json:"op"`
	Attrs        map[string]any     `json:"attrs"`
	TorchChecked bool               `json:"torch_checked"`
	Inputs       map[string]fxArray `json:"inputs"`
	Dy           fxArray            `json:"dy"`
	Y            fxArray            `json:"y"`
	Grads        map[string]fxArray `json:"grads"`
	Running      map[string]fxArray `json:"running"`
}

func loadFixtures(t testing.TB, file string) []fxCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []fxCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s: no cases", file)
	}
	return f.Cases
}

func (c *fxCase) ints(key string) []int {
	v, ok := c.Attrs[key]
	if !ok {
		return nil
	}
	var out []int
	for _, x := range v.([]any) {
		out = append(out, int(x.(float64)))
	}
	return out
}

func (c *fxCase) floats(key string) []float64 {
	v, ok := c.Attrs[key]
	if !ok {
		return nil
	}
	var out []float64
	for _, x := range v.([]any) {
		out = append(out, x.(float64))
	}
	return out
}

func (c *fxCase) num(key string, def float64) float64 {
	if v, ok := c.Attrs[key]; ok {
		switch v := v.(type) {
		case float64:
			return v
		case bool:
			if v {
				return 1
			}
			return 0
		}
	}
	return def
}

func (c *fxCase) str(key, def string) string {
	if v, ok := c.Attrs[key].(string); ok {
		return v
	}
	return def
}

func (c *fxCase) window() Window {
	return Window{
		Kernel:    c.ints("kernel_shape"),
		Strides:   c.ints("strides"),
		Dilations: c.ints("dilations"),
		Pads:      c.ints("pads"),
		AutoPad:   c.str("auto_pad", "NOTSET"),
		CeilMode:  c.num("ceil_mode", 0) != 0,
	}
}

// denseOf makes a tensor of type dt holding a copy of a.
func denseOf(dt tensor.Dtype, a fxArray) *tensor.Dense {
	shape := append([]int(nil), a.Shape...)
	if dt == tensor.Float32 {
		d := make([]float32, len(a.Data))
		for i, v := range a.Data {
			d[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), a.Data...)))
}

// f64s copies a float32 or float64 value's elements.
func f64s(t testing.TB, v gorgonia.Value) []float64 {
	t.Helper()
	switch v := v.(type) {
	case *gorgonia.F64:
		return []float64{float64(*v)}
	case *gorgonia.F32:
		return []float64{float64(*v)}
	}
	d, ok := v.(*tensor.Dense)
	if !ok {
		t.Fatalf("value is %T, want *tensor.Dense", v)
	}
	switch s := d.Data().(type) {
	case []float32:
		out := make([]float64, len(s))
		for i, x := range s {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), s...)
	}
	t.Fatalf("value has type %v", d.Dtype())
	return nil
}

func checkClose(t testing.TB, what string, got []float64, want fxArray, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want.Data) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want.Data))
		return
	}
	if m := testutil.Compare(got, want.Data, atol, rtol); m.Ratio > 1 {
		e, i := m.Ratio, m.RatioAt
		t.Errorf("%s: element %d is %.10g, want %.10g (error %.3g × tolerance)", what, i, got[i], want.Data[i], e)
	}
}

// opBuilder adds the op under test to g, given its input nodes by fixture name.
type opBuilder func(in map[string]*gorgonia.Node) (*gorgonia.Node, error)

// harness is a graph computing y = op(inputs) and L = Σ y·dy with the gradients of L.
type harness struct {
	g      *gorgonia.ExprGraph
	in     map[string]*gorgonia.Node
	vals   map[string]*tensor.Dense
	wrt    []string // inputs differentiated, sorted
	y      *gorgonia.Node
	loss   *gorgonia.Node
	grads  map[string]*gorgonia.Node
	vm     gorgonia.VM
	lossOf func() float64
}

// newHarness builds the graph for c in type dt; diff lists the inputs to differentiate.
func newHarness(t testing.TB, c *fxCase, dt tensor.Dtype, diff []string, build opBuilder) *harness {
	t.Helper()
	h := &harness{g: gorgonia.NewGraph(), in: map[string]*gorgonia.Node{}, vals: map[string]*tensor.Dense{}, grads: map[string]*gorgonia.Node{}}
	for name, a := range c.Inputs {
		v := denseOf(dt, a)
		h.vals[name] = v
		h.in[name] = gorgonia.NodeFromAny(h.g, v, gorgonia.WithName(name))
	}
	y, err := build(h.in)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	h.y = y
	dy := gorgonia.NodeFromAny(h.g, denseOf(dt, c.Dy), gorgonia.WithName("dy"))
	h.loss = gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(y, dy))))
	h.wrt = append([]string(nil), diff...)
	sort.Strings(h.wrt)
	var nodes gorgonia.Nodes
	for _, name := range h.wrt {
		nodes = append(nodes, h.in[name])
	}
	if len(nodes) > 0 {
		gs, err := gorgonia.Grad(h.loss, nodes...)
		if err != nil {
			t.Fatalf("Grad: %v", err)
		}
		for i, name := range h.wrt {
			h.grads[name] = gs[i]
		}
	}
	h.vm = gorgonia.NewTapeMachine(h.g)
	t.Cleanup(func() { h.vm.Close() })
	return h
}

func (h *harness) run(t testing.TB) {
	t.Helper()
	h.vm.Reset()
	if err := h.vm.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func (h *harness) lossValue(t testing.TB) float64 {
	t.Helper()
	h.run(t)
	return f64s(t, h.loss.Value())[0]
}

// checkFD compares the harness's (float64) gradients with central differences of L.
func (h *harness) checkFD(t *testing.T, tol float64) {
	t.Helper()
	h.run(t)
	analytic := map[string][]float64{}
	for _, name := range h.wrt {
		analytic[name] = f64s(t, h.grads[name].Value())
	}
	const step = 1e-6
	for _, name := range h.wrt {
		x := h.vals[name].Data().([]float64)
		worst, at := 0.0, -1
		for i := range x {
			orig := x[i]
			x[i] = orig + step
			up := h.lossValue(t)
			x[i] = orig - step
			down := h.lossValue(t)
			x[i] = orig
			fd := (up - down) / (2 * step)
			if e := math.Abs(fd-analytic[name][i]) / (1 + math.Abs(fd)); e > worst {
				worst, at = e, i
			}
		}
		if worst > tol {
			t.Errorf("dL/d%s[%d] differs from central differences by %.3g (relative)", name, at, worst)
		}
	}
}

// tolerances for comparing with float64 references.
func tolFor(dt tensor.Dtype) (atol, rtol float64) {
	if dt == tensor.Float32 {
		return 1e-5, 1e-4
	}
	return 1e-12, 1e-10
}

// runFixture checks forward values and gradients of c against the fixture in both float types,
// then the float64 gradients against finite differences.
func runFixture(t *testing.T, c *fxCase, diff []string, build func(dt tensor.Dtype) opBuilder) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			h := newHarness(t, c, dt, diff, build(dt))
			// Two runs: the second reuses the ops' output buffers, which must not keep anything
			// from the first.
			h.run(t)
			h.run(t)
			atol, rtol := tolFor(dt)
			if got := h.y.Shape(); !got.Eq(tensor.Shape(c.Y.Shape)) {
				t.Fatalf("output shape %v, want %v", got, c.Y.Shape)
			}
			checkClose(t, "y", f64s(t, h.y.Value()), c.Y, atol, rtol)
			for _, name := range h.wrt {
				checkClose(t, "d"+name, f64s(t, h.grads[name].Value()), c.Grads[name], atol, rtol)
			}
		})
	}
}

// keys returns the fixture's gradient names.
func (c *fxCase) gradNames() []string {
	var out []string
	for k := range c.Grads {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fdCheck(t *testing.T, c *fxCase, diff []string, build opBuilder) {
	t.Run("fd", func(t *testing.T) {
		h := newHarness(t, c, tensor.Float64, diff, build)
		h.checkFD(t, 1e-6)
	})
}

func describe(c *fxCase) string {
	if c.TorchChecked {
		return c.Name + " (torch)"
	}
	return c.Name
}

// randDense returns a tensor of standard normal values from a fixed generator.
func randDense(dt tensor.Dtype, shape ...int) *tensor.Dense {
	return denseOf(dt, randArray(uint64(len(shape)*7919), shape...))
}

// randArray returns standard normal values, reproducibly for a seed (Box–Muller over a 64-bit
// LCG, independent of math/rand's global state).
func randArray(seed uint64, shape ...int) fxArray {
	n := 1
	for _, d := range shape {
		n *= d
	}
	a := fxArray{Shape: shape, Data: make([]float64, n)}
	s := seed + uint64(n)
	for i := range a.Data {
		s = s*6364136223846793005 + 1442695040888963407
		u1 := (float64(s>>11) + 0.5) / (1 << 53)
		s = s*6364136223846793005 + 1442695040888963407
		u2 := float64(s>>11) / (1 << 53)
		a.Data[i] = math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	}
	return a
}
