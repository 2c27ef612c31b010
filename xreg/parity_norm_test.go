package xreg

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Parity of the Gorgonia forward pass with onnxruntime and torch on the instance- and
// group-normalization fixtures of testdata/models/norm-manifest.json
// (scripts/make_norm_fixtures.py; 8 reference examples each), and training on them.

// normParityFixture is one model of norm-manifest.json.
type normParityFixture struct {
	Name         string
	File         string `json:"file"`
	InstanceNorm int    `json:"instance_norm"`
	GroupNorm    int    `json:"group_norm"`
	Batch        int    `json:"batch"`
}

func (f normParityFixture) path(suffix string) string {
	return filepath.Join("..", "testdata", "models", f.Name+suffix)
}

func normParityFixtures(t *testing.T) []normParityFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "models", "norm-manifest.json"))
	if err != nil {
		t.Fatalf("%v (make it with /usr/bin/python3 scripts/make_norm_fixtures.py)", err)
	}
	var m map[string]normParityFixture
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []normParityFixture
	for name, f := range m {
		f.Name = name
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TestParityNorm compares the forward pass at the fixture's batch size and on every single example
// with onnxruntime and with the torch outputs, within parityTol (1e-4); onnxruntime is also
// compared with torch, which checks the fixture itself (the opset-18 and -21 files are rewritten
// from torch's export by the fixture script).
func TestParityNorm(t *testing.T) {
	for _, f := range normParityFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(f.path(".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			in := m.Graph.Inputs[0].Name
			x, xs, err := npyRead(f.path(".input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			y, ys, err := npyRead(f.path(".output.npy"))
			if err != nil {
				t.Fatal(err)
			}
			n := xs[0]
			if n != f.Batch || ys[0] != n {
				t.Fatalf("input %v and output %v, the manifest says batch %d", xs, ys, f.Batch)
			}
			d := parityData{X: x, Y: y, XShape: xs, YShape: ys}
			net, err := Build(m, BuildOptions{Batch: n})
			if err != nil {
				t.Fatal(err)
			}
			net1, err := Build(m, BuildOptions{Batch: 1, Values: net.Values})
			if err != nil {
				t.Fatal(err)
			}
			got, gotShape, err := netRun(net, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, fmt.Sprintf("batch %d vs torch", n), got, y, gotShape, ys)

			orttest.Require(t) // skips without the library, fails when CI=true
			s, err := ort.Open(f.path(".onnx"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want, wantShape, err := ortRun(s, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, fmt.Sprintf("batch %d vs onnxruntime", n), got, want, gotShape, wantShape)
			checkClose(t, "onnxruntime vs torch", want, y, wantShape, ys)
			for i := 0; i < n; i++ {
				xi, _, xis, yis := d.example(i, 1)
				g, gs, err := netRun(net1, in, xi, xis)
				if err != nil {
					t.Fatal(err)
				}
				w, ws, err := ortRun(s, in, xi, xis)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, fmt.Sprintf("batch 1, example %d vs onnxruntime", i), g, w, gs, ws)
				checkClose(t, fmt.Sprintf("batch 1 vs batch %d, example %d", n, i), g, got[i*len(g):(i+1)*len(g)], gs, yis)
			}
		})
	}
}

// TestTrainNorm trains each injected norm fixture with cross-regularization for a few epochs on
// the bundled Fashion-MNIST subset: the training loss falls, every σ moves, and the normalization
// scale and bias parameters are updated.
func TestTrainNorm(t *testing.T) {
	if testing.Short() {
		t.Skip("trains CNNs; skipped with -short")
	}
	train, reg := smallData(t, "train", 192, []int{1, 28, 28}), smallData(t, "reg", 64, []int{1, 28, 28})
	for _, f := range normParityFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(f.path(".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			var affine []string
			for _, n := range m.Graph.Nodes {
				if n.OpType != "InstanceNormalization" && n.OpType != "GroupNormalization" {
					continue
				}
				for _, v := range n.Inputs[1:] {
					if _, ok := m.Graph.Initializers[v]; ok {
						affine = append(affine, v)
					}
				}
			}
			before := map[string][]float32{}
			for _, name := range affine {
				before[name] = append([]float32(nil), m.Graph.Initializers[name].Floats()...)
			}
			res, err := Train(m, train, reg, TrainConfig{Epochs: 3, BatchSize: 32, RegEvery: 2, MC: 2, RegBatch: 32, RegLR: 0.05})
			if err != nil {
				t.Fatal(err)
			}
			h := res.History
			if len(h) != 3 || !(h[2].TrainLoss < h[0].TrainLoss) {
				t.Fatalf("training loss did not fall: %+v", h)
			}
			regs, err := inject.Regs(m)
			if err != nil {
				t.Fatal(err)
			}
			if len(regs) != f.InstanceNorm+f.GroupNorm {
				t.Errorf("%d regs, want %d", len(regs), f.InstanceNorm+f.GroupNorm)
			}
			for _, r := range regs {
				if s := h[2].Sigma[r.Name]; math.Abs(s-inject.DefaultSigma0) < 1e-4 {
					t.Errorf("σ of %s stayed at %v", r.Name, s)
				}
			}
			if err := WriteBack(m, res.Values); err != nil {
				t.Fatal(err)
			}
			for _, name := range affine {
				if bitsEqual(m.Graph.Initializers[name].Floats(), before[name]) {
					t.Errorf("normalization parameter %s did not change", name)
				}
			}
			t.Logf("train loss %.4f → %.4f; %d affine normalization params trained", h[0].TrainLoss, h[2].TrainLoss, len(affine))
		})
	}
}
