package inject_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// normFixture is one model of testdata/models/norm-manifest.json (scripts/make_norm_fixtures.py),
// with the node counts the script derived from the graph.
type normFixture struct {
	Name         string
	File         string `json:"file"`
	Opset        int64  `json:"opset"`
	InstanceNorm int    `json:"instance_norm"`
	GroupNorm    int    `json:"group_norm"`
	BatchNorm    int    `json:"batch_norm"`
	LayerNorm    int    `json:"layer_norm"`
	Batch        int    `json:"batch"`
	InputShape   []any  `json:"input_shape"`
}

func normFixtures(t *testing.T) []normFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "models", "norm-manifest.json"))
	if err != nil {
		t.Fatalf("%v (make it with /usr/bin/python3 scripts/make_norm_fixtures.py)", err)
	}
	var m map[string]normFixture
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []normFixture
	for name, f := range m {
		f.Name = name
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		t.Fatal("norm-manifest.json lists no model")
	}
	return out
}

// TestNormFixtures injects noise into the instance- and group-normalization fixtures and checks
// that exactly their InstanceNormalization and GroupNormalization nodes are found (counts from the
// manifest), that the injected model with σ = 0 reproduces the original in onnxruntime within
// 1e-5, and that with σ > 0 the outputs vary, more for a larger σ.
func TestNormFixtures(t *testing.T) {
	for _, f := range normFixtures(t) {
		for _, opt := range []inject.Options{{}, {Mode: inject.Multiplicative, Granularity: inject.Channel, Sigma0: 0.3}} {
			t.Run(f.Name+"/"+optName(opt), func(t *testing.T) {
				testNormFixture(t, f, opt)
			})
		}
	}
}

func testNormFixture(t *testing.T, f normFixture, opt inject.Options) {
	path := filepath.Join("..", "testdata", "models", f.File)
	orig, err := onnximport.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if orig.Opset != f.Opset {
		t.Errorf("model imports opset %d, the manifest says %d", orig.Opset, f.Opset)
	}
	m, err := onnximport.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := inject.Apply(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rep.Regs {
		got[r.Op]++
	}
	want := map[string]int{
		"InstanceNormalization": f.InstanceNorm,
		"GroupNormalization":    f.GroupNorm,
		"BatchNormalization":    f.BatchNorm,
		"LayerNormalization":    f.LayerNorm,
	}
	total := 0
	for op, n := range want {
		total += n
		if got[op] != n {
			t.Errorf("found %d %s points, the manifest says %d", got[op], op, n)
		}
	}
	if total == 0 || len(rep.Regs) != total {
		t.Errorf("%d regs, want %d (the manifest's normalization nodes)", len(rep.Regs), total)
	}
	// Every point is a normalization node of the original graph.
	for _, r := range rep.Regs {
		p := orig.Graph.Producer[r.Value]
		if p == nil || p.Name != r.Point || (p.OpType != "InstanceNormalization" && p.OpType != "GroupNormalization") {
			t.Errorf("reg %s: noise on %q, which no instance or group normalization of the original produces", r.Name, r.Value)
		}
	}
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != len(rep.Regs) {
		t.Fatalf("metadata lists %d regs, the report %d", len(regs), len(rep.Regs))
	}

	orttest.Require(t)
	x, shape := readNPY(t, path[:len(path)-len(".onnx")]+".input.npy")
	if shape[0] != f.Batch {
		t.Fatalf("input batch %d, manifest %d", shape[0], f.Batch)
	}
	xb, xs := firstSamples(x, shape, f.Batch)
	t.Logf("regs %v", got)
	checkNoiseRuns(t, orig, m, regs, xb, xs)
}
