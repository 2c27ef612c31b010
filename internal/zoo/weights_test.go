package zoo_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestConstantWeightsTrain: in the paddle2onnx-style vit (every weight in a Constant node, opset
// 9), the scale and bias of the decomposed layer norms are trainable weights without a flag, and
// the class token and position embedding when selected (train --trainable); one training step
// changes every one of them, and the export, written back into the Constant nodes, equals the
// trainer's deterministic prediction in onnxruntime.
func TestConstantWeightsTrain(t *testing.T) {
	orttest.Require(t)
	dir := filepath.Join("..", "..", "testdata", "zoo")
	var e entry
	for _, x := range readManifest(t, dir) {
		if x.Name == "vit-rnd-op9-p2o" {
			e = x
		}
	}
	if e.File == "" {
		t.Fatal("testdata/zoo has no vit-rnd-op9-p2o")
	}
	m, err := onnximport.Load(filepath.Join(dir, e.File))
	if err != nil {
		t.Fatal(err)
	}
	const selected = `class_token|pos_embedding`
	ln := regexp.MustCompile(`\bln(_[12])?\.(weight|bias)$`)
	ws, bad, err := m.Weights(onnximport.WeightOptions{Select: regexp.MustCompile(selected)})
	if err != nil || len(bad) > 0 {
		t.Fatalf("Weights: %v %v", err, bad)
	}
	want := map[string][]float32{}
	sel := 0
	for _, w := range ws {
		if w.Store != onnximport.StoreConstant {
			continue
		}
		switch {
		case ln.MatchString(w.Name) && !w.Selected:
		case w.Selected && regexp.MustCompile(selected).MatchString(w.Name):
			sel++
		default:
			continue
		}
		want[w.Name] = slices.Clone(w.Value.Floats())
	}
	// 2 layers × (ln_1, ln_2) + the final ln, scale and bias each; the class token and position embedding.
	if len(want) != 12 || sel != 2 {
		t.Fatalf("%d layer-norm and selected Constant weights (%d selected), want 12 (2): %v", len(want), sel, keys(want))
	}
	unselected, _, err := m.Weights(onnximport.WeightOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range unselected {
		if w.Name == "class_token" || w.Name == "encoder.pos_embedding" {
			t.Errorf("%s is a weight without a selection", w.Name)
		}
	}

	x, shape := e.input()
	set := e.set(x, shape)
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := train(m, set, true, selected, 1); err != nil {
		t.Fatal(err)
	}
	for name, old := range want {
		w, err := m.ResolveWeight(name)
		if err != nil {
			t.Fatal(err)
		}
		if w.Store != onnximport.StoreConstant {
			t.Errorf("%s lives in %s after training, want its Constant node", name, w.Store)
		}
		if slices.Equal(w.Value.Floats(), old) {
			t.Errorf("%s did not change in training", name)
		}
	}
	_, d, err := exportDiff(m, e, set, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("max |export − trainer| = %.2g", d)
}

func keys(m map[string][]float32) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
