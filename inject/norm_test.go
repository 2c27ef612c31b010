package inject_test

import (
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestNormRefusals: --norm settings and weights a learnable norm cannot take are refused with one
// error naming the model and the node or flag.
func TestNormRefusals(t *testing.T) {
	shared := func(t *testing.T) *onnximport.Model { // one weight read by two MatMuls
		return tinyModel(t, 13, []int64{2, 3}, []int64{2, 3}, []tinit{{"w", []int{3, 3}, fill(9, 0.5)}},
			tnode{op: "MatMul", in: []string{"x", "w"}, out: []string{"h"}},
			tnode{op: "MatMul", in: []string{"h", "w"}, out: []string{"y"}})
	}
	zero := func(t *testing.T) *onnximport.Model {
		return tinyModel(t, 13, []int64{2, 3}, []int64{2, 3}, []tinit{{"w", []int{3, 3}, fill(9, 0)}},
			tnode{op: "MatMul", in: []string{"x", "w"}, out: []string{"y"}})
	}
	for _, c := range []struct {
		name  string
		model func(*testing.T) *onnximport.Model
		opt   inject.Options
		want  string
	}{
		{"l1", zero, inject.Options{Norm: "l1"}, `Options.Norm "l1": is not supported on ONNX weights`},
		{"unknown", zero, inject.Options{Norm: "max"}, `Options.Norm "max": is not supported`},
		{"none selected", zero, inject.Options{Norm: inject.NormL2, Where: "Conv"}, `Options.Norm l2: Options.Where "Conv" / Options.Skip "" select none of its 1 weight nodes (MatMul_a MatMul)`},
		{"shared weight", shared, inject.Options{Norm: inject.NormL2}, `weight "w" is read by 2 nodes`},
		{"zero weight", zero, inject.Options{Norm: inject.NormL2}, `weight "w" has norm 0`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t)
			_, err := inject.Apply(m, c.opt)
			if err == nil || !strings.HasPrefix(err.Error(), "inject: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, ok := m.Metadata(inject.MetadataRegs); ok {
				t.Error("the model was changed on error")
			}
		})
	}
}
