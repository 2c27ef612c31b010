package inject_test

import (
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestFixtures injects noise into every fixture model and checks, against the counts the fixture
// script derived from each graph, that exactly its normalization nodes were found; then, with
// onnxruntime, that the injected model with σ = 0 reproduces the original within 1e-5, and that
// with σ > 0 two runs differ and the output variance grows with σ.
func TestFixtures(t *testing.T) {
	fs := fixtures(t)
	sort.Slice(fs, func(i, j int) bool { return fs[i].path() < fs[j].path() })
	for _, f := range fs {
		large := strings.Contains(f.Dir, "large")
		opts := []inject.Options{{}, {Mode: inject.Multiplicative, Granularity: inject.Channel, Sigma0: 0.3}}
		if large {
			opts = opts[:1] // the large models take seconds per session
		}
		for _, opt := range opts {
			t.Run(f.Name+"/"+optName(opt), func(t *testing.T) {
				testFixture(t, f, opt, large)
			})
		}
	}
}

func optName(o inject.Options) string {
	mode, gran := o.Mode, o.Granularity
	if mode == "" {
		mode = inject.Additive
	}
	if gran == "" {
		gran = inject.Layer
	}
	return mode + "-" + gran
}

func testFixture(t *testing.T, f fixture, opt inject.Options, large bool) {
	orig, err := onnximport.Load(f.path())
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnximport.Load(f.path())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inject.Apply(m, opt)
	if err != nil {
		t.Fatal(err)
	}

	// Counts by op, against the manifest.
	got := map[string]int{}
	for _, r := range rep.Regs {
		got[r.Op]++
	}
	want := map[string]int{
		"BatchNormalization":             f.BatchNorm,
		"LayerNormalization":             f.LayerNorm,
		"LayerNormalization(decomposed)": f.LayerNormDecomposed,
	}
	for op, n := range want {
		if got[op] != n {
			t.Errorf("%s: found %d %s points, the manifest says %d", f.File, got[op], op, n)
		}
	}
	if len(rep.Regs) != f.BatchNorm+f.LayerNorm+f.LayerNormDecomposed {
		t.Errorf("%d regs, want %d", len(rep.Regs), f.BatchNorm+f.LayerNorm+f.LayerNormDecomposed)
	}

	// The metadata lists the same regs, and every name it gives exists.
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != len(rep.Regs) {
		t.Fatalf("metadata lists %d regs, the report %d", len(regs), len(rep.Regs))
	}
	nodes := map[string]*onnximport.Node{}
	for _, n := range m.Graph.Nodes {
		nodes[n.Name] = n
	}
	for _, r := range regs {
		init, ok := m.Graph.Initializers[r.Name]
		if !ok {
			t.Errorf("reg %s: no such initializer", r.Name)
			continue
		}
		if want := float32(math.Log(sigma0(opt))); init.Float[0] != want || r.Init != float64(want) {
			t.Errorf("reg %s: initial log σ %v (metadata %v), want %v", r.Name, init.Float[0], r.Init, want)
		}
		if opt.Granularity == inject.Channel && init.Size() <= 1 {
			t.Errorf("reg %s: channel granularity gave dims %v", r.Name, init.Dims)
		}
		for _, name := range r.Nodes {
			if n := nodes[name]; n == nil || !strings.HasPrefix(name, "xreg/") {
				t.Errorf("reg %s: node %q is not in the graph or not prefixed xreg/", r.Name, name)
			}
		}
		if nodes[r.Point] == nil || m.Graph.Producer[r.Output] == nil {
			t.Errorf("reg %s: point %q or output %q missing", r.Name, r.Point, r.Output)
		}
		for _, c := range m.Graph.Consumers[r.Value] {
			if !slices.Contains(r.Nodes, c.Name) {
				t.Errorf("reg %s: %v still reads the clean value %q", r.Name, c, r.Value)
			}
		}
	}

	orttest.Require(t)
	x, shape := readNPY(t, f.path()[:len(f.path())-len(".onnx")]+".input.npy")
	n := 8
	if large {
		n = 2
	}
	xb, xs := firstSamples(x, shape, n)
	checkNoiseRuns(t, orig, m, regs, xb, xs)
}

// checkNoiseRuns checks an injected model against its original in onnxruntime on one batch: with
// σ = 0 (log σ = −Inf, exp gives exactly 0) the outputs equal the original's within 1e-5; with σ > 0
// two runs differ and the output variance across runs grows with σ (σ = 0.3 vs 0.03).
func checkNoiseRuns(t *testing.T, orig, m *onnximport.Model, regs []inject.Reg, xb []float32, xs []int64) {
	t.Helper()
	want0 := run(t, session(t, orig), xb, xs)
	setRegs(t, m, regs, inject.KindNoise, float32(math.Inf(-1)))
	d0 := testutil.MaxAbsDiff(t, run(t, session(t, m), xb, xs), want0)
	if d0 > 1e-5 {
		t.Errorf("σ = 0: outputs differ from the original model by %g (> 1e-5)", d0)
	}
	const runs = 5
	var variances []float64
	for _, sigma := range []float64{0.03, 0.3} {
		setRegs(t, m, regs, inject.KindNoise, float32(math.Log(sigma)))
		s := session(t, m)
		var outs [][]float32
		for range runs {
			outs = append(outs, run(t, s, xb, xs))
		}
		if d := testutil.MaxAbsDiff(t, outs[0], outs[1]); d == 0 {
			t.Errorf("σ = %g: two runs gave identical outputs", sigma)
		}
		variances = append(variances, meanVariance(outs))
	}
	t.Logf("%d regs; σ=0: max |Δ| %.2g; output variance across %d runs: σ=0.03 → %.3g, σ=0.3 → %.3g",
		len(regs), d0, runs, variances[0], variances[1])
	if !(variances[1] > 4*variances[0]) || variances[0] <= 0 {
		t.Errorf("output variance does not grow with σ: %g at σ=0.03, %g at σ=0.3", variances[0], variances[1])
	}
}

func sigma0(o inject.Options) float64 {
	if o.Sigma0 == 0 {
		return inject.DefaultSigma0
	}
	return o.Sigma0
}

// meanVariance is the mean over output elements of the variance across runs.
func meanVariance(outs [][]float32) float64 {
	total := 0.0
	for i := range outs[0] {
		mean := 0.0
		for _, o := range outs {
			mean += float64(o[i])
		}
		mean /= float64(len(outs))
		v := 0.0
		for _, o := range outs {
			v += (float64(o[i]) - mean) * (float64(o[i]) - mean)
		}
		total += v / float64(len(outs)-1)
	}
	return total / float64(len(outs[0]))
}
