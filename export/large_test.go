package export_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// TestLargeFixtures runs the export parity checks on the large fixtures (vgg11-bn, wrn-16-4,
// resnet18; made by `make fixtures-large`), when XREG_LARGE=1: export(inject(m)) gives m's outputs
// in onnxruntime, and after "training" (every value perturbed) the export run by onnxruntime gives
// the trainer's deterministic forward pass.
func TestLargeFixtures(t *testing.T) {
	if os.Getenv("XREG_LARGE") != "1" {
		t.Skip("large fixtures: set XREG_LARGE=1 (make test-large)")
	}
	orttest.Require(t)
	const n = 8
	for _, name := range []string{"vgg11-bn", "wrn-16-4", "resnet18"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "large", name+".onnx")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s is absent (make fixtures-large)", path)
			}
			x, shape := readNPY(t, filepath.Join("..", "testdata", "large", name+".input.npy"))
			per := len(x) / int(shape[0])
			x, shape[0] = x[:n*per], n

			orig, err := onnximport.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			want := runModel(t, orig, x, shape)

			m := orig.Clone()
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			rt := m.Clone()
			if _, err := export.Apply(rt, export.Options{}); err != nil {
				t.Fatal(err)
			}
			if d := testutil.MaxAbsDiff(t, runModel(t, rt, x, shape).Float32, f64(want.Float32)); d > 1e-5 {
				t.Errorf("export(inject(m)) differs from m by %g", d)
			}

			perturb(t, m, 5)
			dims := make([]int, len(shape)-1)
			for i, d := range shape[1:] {
				dims[i] = int(d)
			}
			set := &dataset.Set{X: x, Shape: dims, Y: make([]int, n), Classes: 10, Source: path}
			probs, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := export.Apply(m, export.Options{}); err != nil {
				t.Fatal(err)
			}
			got := softmaxRows(runModel(t, m, x, shape).Float32, 10)
			d := maxRowsDiff(probs, got)
			t.Logf("max |export − trainer| = %.2g", d)
			if d > 1e-4 {
				t.Errorf("export differs from the trainer's deterministic pass by %g", d)
			}
		})
	}
}
