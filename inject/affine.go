package inject

import (
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Placements of the noise relative to a normalization's affine part (γ, β).
const (
	// PostAffine puts the noise after the normalization node's output: y = γ·x̂ + β + σε.
	PostAffine = "post-affine"
	// PreAffine puts the noise on the normalized value, before the affine part, as the paper
	// does (App. C.1: normalization without affine, then noise): y = γ·(x̂ + σε) + β.
	PreAffine = "pre-affine"
)

// DefaultPlacement is the placement Apply uses when Options.Placement is "" (see BENCHMARKS.md,
// "Noise placement", for the measurements behind the choice).
const DefaultPlacement = PostAffine

// Placements lists the accepted values of Options.Placement.
func Placements() []string { return []string{PostAffine, PreAffine} }

// Affine records how a pre-affine point split its normalization node: inject replaced the node's
// scale (and bias) inputs by Constant ones (zeros) and applies the original ones after the noise
// as Mul (and Add). Restoring Inputs on Node and removing the reg's nodes gives back the user's
// node, reading the trained γ and β.
type Affine struct {
	// Node is the normalization node's name; Inputs its original inputs.
	Node   string   `json:"node"`
	Inputs []string `json:"inputs"`
}

// affineSplit is the plan for splitting one normalization node.
type affineSplit struct {
	node *onnximport.Node
	// scale and bias are the inputs (bias "" when absent); dims the scale's shape.
	scale, bias string
	dims        []int
	// reshape, when not nil, is the shape γ and β take to broadcast over the node's output
	// ([-1, 1, …, 1] for the channel axis 1 of batch, instance and group norm); nil for
	// LayerNormalization, whose scale already has the normalized trailing shape.
	reshape []int64
	// groups, when > 0, is the group count of an opset-18 GroupNormalization whose scale and bias
	// hold one value per group: they are expanded to one value per channel (channels of them) by
	// a MatMul with a constant 0/1 matrix before the reshape.
	groups, channels int
}

// planAffine returns how to split p for pre-affine noise, nil when p has no affine part of its own
// (a decomposed layer norm, whose affine Mul/Add stay in place and the noise goes before them).
func planAffine(g *onnximport.Graph, p *point, shapes map[string][]int) (*affineSplit, error) {
	n := p.norm
	switch p.op {
	case opDecomposedLN:
		return nil, nil
	case "BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization":
	default:
		return nil, optionErr("Placement", PreAffine, "%v: does not know the affine part of %s", n, p.op)
	}
	a := &affineSplit{node: n, scale: n.Input(1), bias: n.Input(2)}
	if a.scale == "" {
		return nil, optionErr("Placement", PreAffine, "%v: the node has no scale input", n)
	}
	t, ok := g.ConstValue(a.scale)
	if !ok {
		return nil, optionErr("Placement", PreAffine, "%v: needs its scale %q to be an initializer or a Constant (it is computed)",
			n, a.scale)
	}
	if t.DType != onnximport.Float32 {
		return nil, optionErr("Placement", PreAffine, "%v: supports float32 scale and bias; %q holds %v", n, a.scale, t.DType)
	}
	a.dims = append([]int(nil), t.Dims...)
	if a.bias != "" {
		b, ok := g.ConstValue(a.bias)
		if !ok || b.DType != onnximport.Float32 || b.Size() != t.Size() {
			return nil, optionErr("Placement", PreAffine, "%v: needs its bias %q to be a float32 initializer or Constant shaped like the scale %v",
				n, a.bias, t.Dims)
		}
	}
	if p.op == "LayerNormalization" {
		return a, nil
	}
	x := shapes[n.Input(0)]
	if x == nil {
		x = shapes[n.Outputs[0]]
	}
	if len(x) < 2 {
		return nil, optionErr("Placement", PreAffine, "%v: needs the rank of its input %q, which could not be inferred", n, n.Input(0))
	}
	if p.op == "GroupNormalization" && x[1] != t.Size() {
		if x[1] <= 0 || t.Size() <= 0 || x[1]%t.Size() != 0 || len(t.Dims) != 1 {
			return nil, optionErr("Placement", PreAffine, "%v: scale %q of shape %v is neither per channel nor per group for %d channels",
				n, a.scale, t.Dims, x[1])
		}
		a.groups, a.channels = t.Size(), x[1] // opset-18 form: one γ, β per group
	}
	if len(t.Dims) != 1 {
		return nil, optionErr("Placement", PreAffine, "%v: expects a 1-D scale, %q has shape %v", n, a.scale, t.Dims)
	}
	a.reshape = append([]int64{-1}, make([]int64, len(x)-2)...)
	for i := 1; i < len(a.reshape); i++ {
		a.reshape[i] = 1
	}
	return a, nil
}

// splitAffine replaces the node's scale and bias by constant ones and zeros and builds, on v (the
// noisy normalized value), the affine part Mul(v, γ) → Add(·, β). It returns the value carrying
// the result and the Affine record.
func (ed *editor) splitAffine(a *affineSplit, prefix, v string) (string, *Affine) {
	np := ed.NodeProto(a.node)
	rec := &Affine{Node: a.node.Name, Inputs: append([]string(nil), np.Input...)}
	size := 1
	for _, d := range a.dims {
		size *= d
	}
	ones := make([]float32, size)
	for i := range ones {
		ones[i] = 1
	}
	np.Input[1] = ed.constant(prefix+"/ones", onnximport.NewFloatTensor("", a.dims, ones))
	if a.bias != "" {
		np.Input[2] = ed.constant(prefix+"/zeros", onnximport.NewFloatTensor("", a.dims, make([]float32, size)))
	}
	scale, bias := a.scale, a.bias
	if a.groups > 0 { // per group → per channel: E [C, G] · γ [G, 1]
		per := a.channels / a.groups
		e := make([]float32, a.channels*a.groups)
		for c := range a.channels {
			e[c*a.groups+c/per] = 1
		}
		expand := ed.constant(prefix+"/groups", onnximport.NewFloatTensor("", []int{a.channels, a.groups}, e))
		column := ed.constant(prefix+"/column", onnximport.NewIntTensor("", []int{2}, []int64{int64(a.groups), 1}))
		scale = ed.node(prefix+"/scale_channels", "MatMul", []string{expand, ed.node(prefix+"/scale_column", "Reshape", []string{scale, column})})
		if bias != "" {
			bias = ed.node(prefix+"/bias_channels", "MatMul", []string{expand, ed.node(prefix+"/bias_column", "Reshape", []string{bias, column})})
		}
	}
	if a.reshape != nil {
		shape := ed.constant(prefix+"/shape", onnximport.NewIntTensor("", []int{len(a.reshape)}, a.reshape))
		scale = ed.node(prefix+"/scale", "Reshape", []string{scale, shape})
		if bias != "" {
			bias = ed.node(prefix+"/bias", "Reshape", []string{bias, shape})
		}
	}
	out := ed.node(prefix+"/mul", "Mul", []string{v, scale})
	if bias != "" {
		out = ed.node(prefix+"/add", "Add", []string{out, bias})
	}
	return out, rec
}
