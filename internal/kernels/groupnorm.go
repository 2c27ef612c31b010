package kernels

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GroupNormalization returns the group normalization of x (shape N×C×D1×…×Dn, rank ≥ 2): the C
// channels are split into groups consecutive groups of C/groups channels, and every (example,
// group) block is normalised with its own mean and population variance,
// y = (x−mean)/sqrt(var+epsilon)·scale + bias. Statistics are accumulated in float64 whatever the
// input type.
//
// scale and bias are 1-D-like tensors of either C elements (one value per channel: ONNX
// InstanceNormalization and GroupNormalization from opset 21) or groups elements (one value per
// group, shared by all the channels of the group: ONNX GroupNormalization opset 18); when
// groups = C the two readings coincide. nil scale means ones and nil bias zeros.
// InstanceNormalization is GroupNormalization with groups = C.
func GroupNormalization(x, scale, bias *gorgonia.Node, groups int, epsilon float64) (*gorgonia.Node, error) {
	xs := x.Shape()
	if len(xs) < 2 {
		return nil, fmt.Errorf("kernels: GroupNormalization: input shape %v, want N×C×… (rank ≥ 2)", xs)
	}
	c := xs[1]
	if groups <= 0 || c%groups != 0 {
		return nil, fmt.Errorf("kernels: GroupNormalization: %d groups do not divide %d channels", groups, c)
	}
	if !(epsilon >= 0) || math.IsInf(epsilon, 0) {
		return nil, fmt.Errorf("kernels: GroupNormalization: epsilon %g must be ≥ 0", epsilon)
	}
	cpg, sp := c/groups, prod(xs[2:])
	cfg := normCfg{name: "GroupNorm", attr: fmt.Sprintf("groups%d", groups), xs: xs.Clone(), rows: xs[0] * groups, d: cpg * sp,
		segs: cpg, seg: sp, groups: groups, params: c, eps: epsilon}
	if cfg.rows == 0 || cfg.d == 0 {
		return nil, fmt.Errorf("kernels: GroupNormalization: empty input shape %v", xs)
	}
	set := false
	for _, p := range []struct {
		name string
		n    *gorgonia.Node
		s    *tensor.Shape
	}{{"scale", scale, &cfg.ss}, {"bias", bias, &cfg.bs}} {
		if p.n == nil {
			continue
		}
		size := p.n.Shape().TotalSize()
		if size != c && size != groups {
			return nil, fmt.Errorf("kernels: GroupNormalization: %s shape %v, want %d (channels) or %d (groups) elements", p.name, p.n.Shape(), c, groups)
		}
		if set && size != cfg.params {
			return nil, fmt.Errorf("kernels: GroupNormalization: scale has %d elements and bias %d", cfg.params, size)
		}
		cfg.params, set = size, true
		*p.s = p.n.Shape().Clone()
	}
	return blockNorm("GroupNormalization", cfg, x, scale, bias)
}
