package kernels

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LayerNormalization returns the ONNX LayerNormalization (opset 17) of x, normalising over the
// dimensions axis…end (axis may be negative) with the population variance:
// y = (x−mean)/sqrt(var+epsilon)·scale + bias. scale and bias hold prod(shape[axis:]) elements
// (usually of shape x.shape[axis:]); nil scale means ones and nil bias zeros. Statistics are
// accumulated in float64 whatever the input type.
func LayerNormalization(x, scale, bias *gorgonia.Node, axis int, epsilon float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	r := len(xs)
	if axis < 0 {
		axis += r
	}
	if r == 0 || axis < 0 || axis >= r {
		return nil, fmt.Errorf("kernels: LayerNormalization: axis out of range for input shape %v", xs)
	}
	if !(epsilon >= 0) || math.IsInf(epsilon, 0) {
		return nil, fmt.Errorf("kernels: LayerNormalization: epsilon %g must be ≥ 0", epsilon)
	}
	d := prod(xs[axis:])
	cfg := normCfg{name: "LayerNorm", attr: fmt.Sprintf("axis%d", axis), xs: xs.Clone(), rows: prod(xs[:axis]), d: d,
		segs: 1, seg: d, perElem: true, params: d, eps: epsilon}
	if cfg.d == 0 || cfg.rows == 0 {
		return nil, fmt.Errorf("kernels: LayerNormalization: empty input shape %v", xs)
	}
	for _, p := range []struct {
		name string
		n    *gorgonia.Node
		s    *tensor.Shape
	}{{"scale", scale, &cfg.ss}, {"bias", bias, &cfg.bs}} {
		if p.n == nil {
			continue
		}
		if p.n.Shape().TotalSize() != cfg.d {
			return nil, fmt.Errorf("kernels: LayerNormalization: %s shape %v, want %d elements (input %v, axis %d)", p.name, p.n.Shape(), cfg.d, xs, axis)
		}
		*p.s = p.n.Shape().Clone()
	}
	return blockNorm("LayerNormalization", cfg, x, scale, bias)
}
