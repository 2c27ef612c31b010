package export

import (
	"fmt"
	"math"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// foldNorms writes, through ed, every learnable weight norm (inject.KindNorm) back into its weight:
// W ← ρ·W/‖W‖ with ρ = exp(log ρ), computed in float64 and rounded once to float32, so that after
// strip the node reads one plain weight tensor again, in the original's graph.
func foldNorms(m *onnximport.Model, ed *onnximport.Editor, regs []inject.Reg) error {
	for _, r := range regs {
		if r.Kind != inject.KindNorm {
			continue
		}
		u, ok := m.Graph.Initializers[r.Value]
		if !ok || u.DType != onnximport.Float32 {
			return fmt.Errorf("%s: the weight %q of the learnable norm at %q is missing or not float32 (was the model edited after injection?)", r.Name, r.Value, r.Point)
		}
		lr := m.Graph.Initializers[r.Name] // checked by learnedValues
		var ss float64
		for _, v := range u.Float {
			ss += float64(v) * float64(v)
		}
		if !(ss > 0) || math.IsInf(ss, 0) || math.IsNaN(ss) {
			return fmt.Errorf("%s: weight %q has norm %v, so its direction is undefined (did training diverge?)", r.Name, r.Value, math.Sqrt(ss))
		}
		f := math.Exp(float64(lr.Float[0])) / math.Sqrt(ss)
		w := make([]float32, len(u.Float))
		for i, v := range u.Float {
			w[i] = float32(float64(v) * f)
		}
		enc, err := onnximport.NewFloatTensor(r.Value, u.Dims, w).Encode()
		if err != nil {
			return fmt.Errorf("%s: folding the norm into %q: %w", r.Name, r.Value, err)
		}
		for i, p := range ed.Proto().Graph.Initializer {
			if p.GetName() == r.Value {
				enc.DocString = p.DocString
				ed.Proto().Graph.Initializer[i] = enc
			}
		}
	}
	return nil
}
