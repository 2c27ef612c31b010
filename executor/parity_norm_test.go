package executor

import (
	"fmt"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Parity of the Gorgonia forward pass with onnxruntime and torch on the instance- and
// group-normalization fixtures of testdata/models/norm-manifest.json
// (scripts/make_norm_fixtures.py; 8 reference examples each), and training on them.

// TestParityNorm compares the forward pass at the fixture's batch size and on every single example
// with onnxruntime and with the torch outputs, within parityTol (1e-4); onnxruntime is also
// compared with torch, which checks the fixture itself (the opset-18 and -21 files are rewritten
// from torch's export by the fixture script).
func TestParityNorm(t *testing.T) {
	for _, f := range testutil.NormFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(f.Path(".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			in := m.Graph.Inputs[0].Name
			x, xs, err := npyRead(f.Path(".input.npy"))
			if err != nil {
				t.Fatal(err)
			}
			y, ys, err := npyRead(f.Path(".output.npy"))
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
			s, err := ort.Open(f.Path(".onnx"), nil)
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
