package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Instance and group normalization, built from the fused kernels.GroupNormalization. Their scale
// and bias initializers are learnable parameters like any other; the ops have no running
// statistics and behave the same in training and evaluation.
func init() {
	register("InstanceNormalization", buildInstanceNorm)
	register("GroupNormalization", buildGroupNorm)
}

// buildInstanceNorm builds an InstanceNormalization (opset 6): every (example, channel) slice is
// normalised on its own, then scaled and shifted by the per-channel scale and B.
func buildInstanceNorm(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	if len(x.Shape()) < 2 {
		return fmt.Errorf("%v: input shape %v, want N×C×…", n, x.Shape())
	}
	c := x.Shape()[1]
	scale, bias, err := b.normAffine(n, c, "one per channel")
	if err != nil {
		return err
	}
	y, err := kernels.GroupNormalization(x, scale, bias, c, spatialFloat(n, "epsilon", 1e-5))
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// buildGroupNorm builds a GroupNormalization. Opset 18 gives scale and bias one value per group
// (shared by the group's channels); opset 21 gives them one value per channel. Statistics are
// accumulated in float64, which stash_type=1 (float32, the only value onnximport accepts) allows.
func buildGroupNorm(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	if len(x.Shape()) < 2 {
		return fmt.Errorf("%v: input shape %v, want N×C×…", n, x.Shape())
	}
	groups := int(n.Int("num_groups", 0))
	c := x.Shape()[1]
	if groups <= 0 || c%groups != 0 {
		return fmt.Errorf("%v: num_groups=%d does not divide the %d channels of input %v", n, groups, c, x.Shape())
	}
	want, what := c, "one per channel (opset ≥ 21)"
	if b.model.Opset < 21 {
		want, what = groups, fmt.Sprintf("one per group (opset %d < 21)", b.model.Opset)
	}
	scale, bias, err := b.normAffine(n, want, what)
	if err != nil {
		return err
	}
	y, err := kernels.GroupNormalization(x, scale, bias, groups, spatialFloat(n, "epsilon", 1e-5))
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// normAffine returns the scale (input 1) and bias (input 2) nodes of an instance or group
// normalization after checking that each holds want elements (what says which). A missing input,
// or a build-time constant of ones (scale) or zeros (bias), gives nil: no affine work and nothing
// to differentiate (PyTorch's group-norm export feeds InstanceNormalization such constants).
func (b *builder) normAffine(n *onnximport.Node, want int, what string) (scale, bias *gorgonia.Node, err error) {
	out := [2]*gorgonia.Node{}
	for k, p := range []struct {
		name     string
		identity float32
	}{{"scale", 1}, {"bias", 0}} {
		i := k + 1
		if n.Input(i) == "" {
			continue
		}
		if b.constAllEqual(n, i, p.identity) {
			if t, _ := b.Const(n, i); t.Size() != want {
				return nil, nil, fmt.Errorf("%v: %s has %d elements, want %d: %s", n, p.name, t.Size(), want, what)
			}
			continue
		}
		v, err := b.Input(n, i)
		if err != nil {
			return nil, nil, err
		}
		if got := v.Shape().TotalSize(); got != want {
			return nil, nil, fmt.Errorf("%v: %s has shape %v, want %d elements: %s", n, p.name, v.Shape(), want, what)
		}
		out[k] = v
	}
	return out[0], out[1], nil
}
