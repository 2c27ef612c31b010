package onnximport

import (
	"errors"
	"fmt"
)

// maxWindowAttr bounds kernel, stride, dilation and pad values: far above any real network, low
// enough that (kernel−1)·dilation and the output-size arithmetic cannot overflow.
const maxWindowAttr = 1 << 20

// errNoShapeRule marks an op inferNode has no rule for (not an inconsistency of the model).
var errNoShapeRule = errors.New("no shape rule")

// checkIntsRange checks every value of an INTS attribute lies in [lo, hi] and, when wantLen > 0,
// that there are wantLen of them.
func checkIntsRange(n *Node, name string, lo, hi int64, wantLen int) error {
	if !n.Has(name) {
		return nil
	}
	v := n.Ints(name, nil)
	if wantLen > 0 && len(v) != wantLen {
		return fmt.Errorf("attribute %s=%v has %d values, want %d", name, v, len(v), wantLen)
	}
	for _, x := range v {
		if x < lo || x > hi {
			return fmt.Errorf("attribute %s=%v: every value must be in [%d, %d]", name, v, lo, hi)
		}
	}
	return nil
}

// checkBool checks an INT attribute used as a flag is 0 or 1.
func checkBool(n *Node, name string) error {
	if v := n.Int(name, 0); v != 0 && v != 1 {
		return fmt.Errorf("attribute %s=%d must be 0 or 1", name, v)
	}
	return nil
}

// checkWindow range-checks the sliding-window attributes of Conv and the pooling ops, as the
// executor and onnxruntime read them: kernel_shape, strides and dilations ≥ 1, pads ≥ 0, the
// lengths consistent with the kernel's rank, and group ≥ 1 for Conv. A pooling op needs
// kernel_shape, and its pads must be smaller than the kernel (onnxruntime refuses otherwise).
func checkWindow(n *Node) error {
	ks := n.Ints("kernel_shape", nil)
	pool := n.OpType == "MaxPool" || n.OpType == "AveragePool"
	if pool && len(ks) == 0 {
		return fmt.Errorf("required attribute kernel_shape is missing")
	}
	r := len(ks)
	if err := checkIntsRange(n, "kernel_shape", 1, maxWindowAttr, 0); err != nil {
		return err
	}
	if err := checkIntsRange(n, "strides", 1, maxWindowAttr, r); err != nil {
		return err
	}
	if err := checkIntsRange(n, "dilations", 1, maxWindowAttr, r); err != nil {
		return err
	}
	if err := checkIntsRange(n, "pads", 0, maxWindowAttr, 2*r); err != nil {
		return err
	}
	if pool {
		pads := n.Ints("pads", nil)
		for i, p := range pads {
			if k := ks[i%r]; p >= k {
				return fmt.Errorf("attribute pads=%v: each pad must be smaller than the kernel %v", pads, ks)
			}
		}
		if err := checkBool(n, "ceil_mode"); err != nil {
			return err
		}
		if err := checkBool(n, "count_include_pad"); err != nil {
			return err
		}
	}
	if n.OpType == "Conv" {
		if g := n.Int("group", 1); g < 1 {
			return fmt.Errorf("attribute group=%d must be ≥ 1", g)
		}
	}
	return nil
}

// checkShapes checks what the model's own shapes tell (KnownShapes) against what onnxruntime and
// the executor require: declared input dimensions ≥ 0 and a known element count within
// MaxTensorElements; graph inputs of float32 type, the only type the tool feeds; Conv weights
// that fit the input's channels under group, the kernel_shape attribute and the bias;
// GroupNormalization groups that divide the channels; and every node whose output shape cannot
// follow from fully known input shapes (inconsistent shapes). It returns one error per problem.
func (m *Model) checkShapes() []error {
	var problems []error
	for _, in := range m.Graph.Inputs {
		if in.DType != Float32 {
			problems = append(problems, fmt.Errorf("graph input %q: element type %v cannot be fed (the tool feeds float32 images and arrays)", in.Name, in.DType))
		}
		known := make([]int64, 0, len(in.Shape))
		for i, d := range in.Shape {
			if d < -1 || (d == -1 && in.DimParams[i] == "" && m.declaredNegative(in.Name, i)) {
				problems = append(problems, fmt.Errorf("graph input %q: dimension %d of its shape is negative", in.Name, i))
			}
			if d > 0 {
				known = append(known, int64(d))
			}
		}
		if _, err := checkedNumel(in.Name, known); err != nil {
			problems = append(problems, fmt.Errorf("graph input %w", err))
		}
	}
	shapes := m.KnownShapes()
	consts := map[string]*Tensor{}
	for name, t := range m.Graph.Initializers {
		consts[name] = t
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Constant" {
			if t, err := constantValue(n); err == nil {
				consts[n.Outputs[0]] = t
			}
			continue
		}
		in := make([][]int, len(n.Inputs))
		complete := true
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			s, ok := shapes[name]
			if !ok {
				complete = false
				break
			}
			for _, d := range s {
				if d < 0 {
					complete = false
				}
			}
			in[i] = s
		}
		if err := checkNodeShapes(n, in); err != nil {
			problems = append(problems, fmt.Errorf("%v: %w", n, err))
			continue
		}
		if !complete || len(n.Outputs) == 0 || n.Outputs[0] == "" {
			continue
		}
		if _, ok := shapes[n.Outputs[0]]; ok {
			continue
		}
		if _, err := inferNode(n, in, consts, m.Opset); err != nil && !errors.Is(err, errNoShapeRule) && !needsConst(n, consts) {
			problems = append(problems, fmt.Errorf("%v: %w", n, err))
		}
	}
	return problems
}

// declaredNegative reports whether graph input name declares a negative dim_value at i (the
// graph view turns it into -1, the mark of an unknown dimension).
func (m *Model) declaredNegative(name string, i int) bool {
	for _, vp := range m.Proto.GetGraph().GetInput() {
		if vp.GetName() != name {
			continue
		}
		dims := vp.GetType().GetTensorType().GetShape().GetDim()
		return i < len(dims) && dims[i].GetDimParam() == "" && dims[i].GetDimValue() < 0
	}
	return false
}

// needsConst reports whether n's shape rule needs a constant input that is computed instead:
// not an inconsistency.
func needsConst(n *Node, consts map[string]*Tensor) bool {
	switch n.OpType {
	case "Reshape":
		_, ok := consts[n.Input(1)]
		return !ok
	case "Resize":
		_, s := consts[n.Input(2)]
		_, z := consts[n.Input(3)]
		return !s && !z
	case "ReduceMean":
		_, ok := consts[n.Input(1)]
		return n.Input(1) != "" && !ok
	}
	return false
}

// checkNodeShapes checks the parameters of Conv and GroupNormalization against the known shapes
// of their inputs (nil when unknown; a dimension may be -1).
func checkNodeShapes(n *Node, in [][]int) error {
	get := func(i int) []int {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	switch n.OpType {
	case "Conv":
		x, w, b := get(0), get(1), get(2)
		if w == nil {
			return nil
		}
		if len(w) < 3 {
			return fmt.Errorf("weight %q has shape %v, want M×C/group×kernel", n.Input(1), w)
		}
		group := int(n.Int("group", 1))
		if group < 1 {
			return nil // refused by checkWindow
		}
		if w[0] >= 0 && w[0]%group != 0 {
			return fmt.Errorf("attribute group=%d does not divide the %d output channels of weight %v", group, w[0], w)
		}
		if ks := n.Ints("kernel_shape", nil); ks != nil {
			if len(ks) != len(w)-2 {
				return fmt.Errorf("attribute kernel_shape=%v does not fit weight %v", ks, w)
			}
			for i, k := range ks {
				if w[2+i] >= 0 && int(k) != w[2+i] {
					return fmt.Errorf("attribute kernel_shape=%v does not fit weight %v", ks, w)
				}
			}
		}
		if x != nil {
			if len(x) != len(w) {
				return fmt.Errorf("input shape %v and weight %v differ in rank", x, w)
			}
			if x[1] >= 0 && x[1]%group != 0 {
				return fmt.Errorf("attribute group=%d does not divide the %d input channels of %v", group, x[1], x)
			}
			if x[1] >= 0 && w[1] >= 0 && x[1] != w[1]*group {
				return fmt.Errorf("input has %d channels, weight %v with group=%d expects %d", x[1], w, group, w[1]*group)
			}
		}
		if b != nil && w[0] >= 0 && (len(b) != 1 || (b[0] >= 0 && b[0] != w[0])) {
			return fmt.Errorf("bias %q has shape %v, want [%d]", n.Input(2), b, w[0])
		}
	case "GroupNormalization":
		x := get(0)
		if g := int(n.Int("num_groups", 0)); x != nil && len(x) >= 2 && x[1] >= 0 && g > 0 && x[1]%g != 0 {
			return fmt.Errorf("attribute num_groups=%d does not divide the %d channels of %v", g, x[1], x)
		}
	}
	return nil
}
