package onnximport

import (
	"fmt"
)

// InferShapes propagates static shapes from the graph inputs through every node. inputs gives the
// concrete shape of graph inputs; an input not listed uses its declared shape with every symbolic
// dimension set to batch. The result maps every value name (inputs, initializers, node outputs) to
// its shape. A graph input without a declared shape, an op without a shape rule or inconsistent
// shapes are an error.
func (m *Model) InferShapes(inputs map[string][]int, batch int) (map[string][]int, error) {
	shapes := map[string][]int{}
	for _, in := range m.Graph.Inputs {
		if s, ok := inputs[in.Name]; ok {
			shapes[in.Name] = clone(s)
			continue
		}
		if !in.HasShape {
			return nil, fmt.Errorf("onnximport: graph input %q declares no shape", in.Name)
		}
		s := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			if d < 0 {
				d = batch
			}
			s[i] = d
		}
		shapes[in.Name] = s
	}
	if err := m.propagate(shapes, true); err != nil {
		return nil, err
	}
	return shapes, nil
}

// KnownShapes propagates shapes as far as the model itself tells them, without concrete inputs:
// from the declared shapes of the graph inputs, the initializers and the constants. A symbolic
// dimension, and every dimension derived from one that cannot be resolved, is -1; a value whose
// shape cannot be inferred (a graph input that declares no shape, an op without a shape rule,
// inconsistent shapes) is absent from the result, as are the values computed from it.
func (m *Model) KnownShapes() map[string][]int {
	shapes := map[string][]int{}
	for _, in := range m.Graph.Inputs {
		if in.HasShape {
			shapes[in.Name] = clone(in.Shape)
		}
	}
	_ = m.propagate(shapes, false) // never fails when not strict
	return shapes
}

// propagate adds the shapes of the initializers and of every node output to shapes, which holds
// those of the graph inputs. When strict, the first node whose output shape cannot be inferred is
// an error; otherwise that output is left out.
func (m *Model) propagate(shapes map[string][]int, strict bool) error {
	g := m.Graph
	consts := map[string]*Tensor{}
	for name, t := range g.Constants {
		shapes[name] = clone(t.Dims)
		consts[name] = t
	}
	for name, t := range g.Initializers {
		shapes[name] = clone(t.Dims)
		consts[name] = t
	}
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			continue
		}
		if n.OpType == "Constant" {
			t, err := constantValue(n)
			if err != nil {
				if strict {
					return fmt.Errorf("onnximport: %w", err)
				}
				continue
			}
			consts[n.Outputs[0]] = t
			shapes[n.Outputs[0]] = clone(t.Dims)
			continue
		}
		in := make([][]int, len(n.Inputs)) // nil: no input, or its shape is unknown
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			s, ok := shapes[name]
			if !ok && strict {
				return fmt.Errorf("onnximport: %v: shape of input %q unknown", n, name)
			}
			in[i] = s
		}
		out, err := inferNode(n, in, consts, m.Opset)
		if err != nil {
			if strict {
				return fmt.Errorf("onnximport: %v: %w", n, err)
			}
			continue
		}
		if out == nil {
			out = []int{} // a scalar
		}
		shapes[n.Outputs[0]] = out
	}
	return nil
}

// inferNode returns the shape of n's first output from the shapes of its inputs (nil for an
// absent input or an unknown shape; dimensions may be unknown) and the constant values met so far.
func inferNode(n *Node, in [][]int, consts map[string]*Tensor, opset int64) ([]int, error) {
	need := func(k int) error {
		for i := 0; i < k; i++ {
			if i >= len(in) || in[i] == nil {
				return fmt.Errorf("needs %d inputs", k)
			}
		}
		return nil
	}
	var x []int
	if len(in) > 0 {
		x = in[0]
	}
	if n.OpType == "Reshape" && x == nil && len(in) > 0 && n.Input(0) != "" {
		// Unknown input shape: the target tells the output shape unless it copies input dims.
		t, ok := consts[n.Input(1)]
		if !ok {
			return nil, fmt.Errorf("Reshape shape %q must be a constant", n.Input(1))
		}
		for _, d := range t.Ints() {
			if d == 0 && n.Int("allowzero", 0) == 0 {
				return nil, fmt.Errorf("Reshape shape %v copies dims of an input of unknown shape", t.Ints())
			}
		}
		return ReshapeTarget([]int{-1}, t.Ints(), true)
	}
	if err := need(1); err != nil {
		return nil, err
	}
	switch n.OpType {
	case "Add", "Sub", "Mul", "Div", "Pow":
		if err := need(2); err != nil {
			return nil, err
		}
		return Broadcast(x, in[1])
	case "Sqrt", "Exp", "Sin", "Cos", "Relu", "Sigmoid", "Tanh", "Identity", "Dropout", "Clip", "Softmax",
		"RandomNormalLike", "RandomUniformLike",
		"Erf", "Neg", "Abs", "Reciprocal", "Log", "Softplus", "Softsign", "LeakyRelu", "Elu", "Selu",
		"HardSigmoid", "HardSwish", "PRelu", "LRN", "Cast", "Not", "Floor", "Ceil",
		"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization", "ScatterND":
		return clone(x), nil
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Mod",
		"Max", "Min", "Sum", "Where":
		// Numpy-style broadcast of every input (Max, Min and Sum are variadic, Where has three).
		out := clone(x)
		for _, s := range in[1:] {
			if s == nil {
				return nil, fmt.Errorf("%s input of unknown shape", n.OpType)
			}
			var err error
			if out, err = Broadcast(out, s); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "Gemm":
		if err := need(2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if len(a) != 2 || len(b) != 2 {
			return nil, fmt.Errorf("Gemm needs 2-D inputs, got %v and %v", a, b)
		}
		m, ka := a[0], a[1]
		if n.Int("transA", 0) != 0 {
			m, ka = a[1], a[0]
		}
		kb, nn := b[0], b[1]
		if n.Int("transB", 0) != 0 {
			kb, nn = b[1], b[0]
		}
		if ka >= 0 && kb >= 0 && ka != kb {
			return nil, fmt.Errorf("Gemm inner dimensions differ: %v and %v", a, b)
		}
		return []int{m, nn}, nil
	case "MatMul":
		if err := need(2); err != nil {
			return nil, err
		}
		return matMulShape(in[0], in[1])
	case "Conv":
		if err := need(2); err != nil {
			return nil, err
		}
		w := in[1]
		if len(x) < 3 || len(w) != len(x) {
			return nil, fmt.Errorf("Conv input %v and weight %v ranks differ", x, w)
		}
		group := int(n.Int("group", 1))
		if x[1] >= 0 && w[1] >= 0 && x[1] != w[1]*group {
			return nil, fmt.Errorf("Conv input has %d channels, weight %v with group %d expects %d", x[1], w, group, w[1]*group)
		}
		sp, err := SpatialOut(n, x[2:], w[2:], false)
		if err != nil {
			return nil, err
		}
		return append([]int{x[0], w[0]}, sp...), nil
	case "MaxPool", "AveragePool":
		if len(x) < 3 {
			return nil, fmt.Errorf("%s needs N×C×spatial input, got %v", n.OpType, x)
		}
		ks := n.Ints("kernel_shape", nil)
		k := make([]int, len(ks))
		for i, v := range ks {
			k[i] = int(v)
		}
		sp, err := SpatialOut(n, x[2:], k, n.Int("ceil_mode", 0) != 0)
		if err != nil {
			return nil, err
		}
		return append([]int{x[0], x[1]}, sp...), nil
	case "GlobalAveragePool":
		if len(x) < 2 {
			return nil, fmt.Errorf("GlobalAveragePool needs N×C×spatial input, got %v", x)
		}
		out := []int{x[0], x[1]}
		for range x[2:] {
			out = append(out, 1)
		}
		return out, nil
	case "Flatten":
		axis := int(n.Int("axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis > len(x) {
			return nil, fmt.Errorf("Flatten axis %d out of range for %v", n.Int("axis", 1), x)
		}
		return []int{knownSize(x[:axis]), knownSize(x[axis:])}, nil
	case "Reshape":
		t, ok := consts[n.Input(1)]
		if !ok {
			return nil, fmt.Errorf("Reshape shape %q must be a constant", n.Input(1))
		}
		return ReshapeTarget(x, t.Ints(), n.Int("allowzero", 0) != 0)
	case "Transpose":
		perm := n.Ints("perm", nil)
		out := make([]int, len(x))
		for i := range x {
			if perm == nil {
				out[i] = x[len(x)-1-i]
				continue
			}
			if len(perm) != len(x) || perm[i] < 0 || int(perm[i]) >= len(x) {
				return nil, fmt.Errorf("Transpose perm %v does not fit %v", perm, x)
			}
			out[i] = x[perm[i]]
		}
		return out, nil
	case "Concat":
		if err := need(len(in)); err != nil {
			return nil, err
		}
		axis := int(n.Int("axis", 0))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis >= len(x) {
			return nil, fmt.Errorf("Concat axis %d out of range for %v", n.Int("axis", 0), x)
		}
		out := clone(x)
		for _, s := range in[1:] {
			if len(s) != len(x) {
				return nil, fmt.Errorf("Concat inputs %v and %v differ in rank", x, s)
			}
			if out[axis] < 0 || s[axis] < 0 {
				out[axis] = -1
			} else {
				out[axis] += s[axis]
			}
		}
		return out, nil
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin":
		// The axes input (opset 18, ReduceSum 13; the adapters move older attributes there).
		var axes []int64
		if n.Input(1) != "" {
			t, ok := consts[n.Input(1)]
			if !ok {
				return nil, fmt.Errorf("%s axes %q must be a constant", n.OpType, n.Input(1))
			}
			axes = t.Ints()
		} else {
			axes = n.Ints("axes", nil)
		}
		keep := n.Int("keepdims", 1) != 0
		reduce := make([]bool, len(x))
		if len(axes) == 0 {
			if n.Int("noop_with_empty_axes", 0) != 0 {
				return clone(x), nil
			}
			for i := range reduce {
				reduce[i] = true
			}
		}
		for _, a := range axes {
			if a < 0 {
				a += int64(len(x))
			}
			if a < 0 || int(a) >= len(x) {
				return nil, fmt.Errorf("%s axis out of range for %v", n.OpType, x)
			}
			reduce[a] = true
		}
		out := []int{}
		for i, d := range x {
			switch {
			case !reduce[i]:
				out = append(out, d)
			case keep:
				out = append(out, 1)
			}
		}
		return out, nil
	case "Resize":
		if t, ok := consts[n.Input(3)]; ok && t.Size() > 0 {
			if t.Size() != len(x) {
				return nil, fmt.Errorf("Resize has %d sizes for input %v", t.Size(), x)
			}
			out := make([]int, len(x))
			for i, v := range t.Ints() {
				out[i] = int(v)
			}
			return out, nil
		}
		t, ok := consts[n.Input(2)]
		if !ok || t.Size() != len(x) {
			return nil, fmt.Errorf("Resize needs constant scales or sizes")
		}
		out := make([]int, len(x))
		for i, s := range t.Floats() {
			out[i] = -1
			if x[i] >= 0 {
				out[i] = int(float64(x[i]) * float64(s)) // floor, as the spec says
			}
		}
		return out, nil
	case "GridSample":
		if err := need(2); err != nil {
			return nil, err
		}
		g := in[1]
		if len(x) != 4 || len(g) != 4 {
			return nil, fmt.Errorf("GridSample needs 4-D input and grid, got %v and %v", x, g)
		}
		return []int{x[0], x[1], g[1], g[2]}, nil
	}
	return nil, fmt.Errorf("%w for op %s", errNoShapeRule, n.OpType)
}

// Broadcast returns the numpy-style broadcast of two shapes. An unknown (negative) dimension
// takes the other shape's size, unless that is 1 or unknown too: then it stays unknown (-1).
func Broadcast(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = max(a[j], -1)
		}
		if j := len(b) - n + i; j >= 0 {
			db = max(b[j], -1)
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		case da < 0:
			out[i] = db
		case db < 0:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// matMulShape returns the shape of the matrix product of a and b (numpy's matmul); unknown inner
// dimensions are not checked.
func matMulShape(a, b []int) ([]int, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul of scalars")
	}
	a1, b1 := len(a) == 1, len(b) == 1
	if a1 {
		a = []int{1, a[0]}
	}
	if b1 {
		b = []int{b[0], 1}
	}
	if ka, kb := a[len(a)-1], b[len(b)-2]; ka >= 0 && kb >= 0 && ka != kb {
		return nil, fmt.Errorf("MatMul inner dimensions differ: %v and %v", a, b)
	}
	batch, err := Broadcast(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, err
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if a1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if b1 {
		out = out[:len(out)-1]
	}
	return out, nil
}

// SpatialOut computes the spatial output size of Conv or a pooling op from its attributes
// (kernel k, strides, dilations, pads, auto_pad), per the ONNX operator definitions. An unknown
// (negative) input or kernel size gives an unknown (-1) output size.
func SpatialOut(n *Node, in, k []int, ceil bool) ([]int, error) {
	r := len(in)
	if len(k) != r {
		return nil, fmt.Errorf("kernel %v does not fit spatial input %v", k, in)
	}
	get := func(name string, def int, size int) []int {
		v := n.Ints(name, nil)
		out := make([]int, size)
		for i := range out {
			out[i] = def
			if i < len(v) {
				out[i] = int(v[i])
			}
		}
		return out
	}
	strides, dil, pads := get("strides", 1, r), get("dilations", 1, r), get("pads", 0, 2*r)
	out := make([]int, r)
	for i := 0; i < r; i++ {
		if strides[i] <= 0 {
			return nil, fmt.Errorf("strides %v must be positive", n.Ints("strides", nil))
		}
		if in[i] < 0 || k[i] < 0 {
			out[i] = -1
			continue
		}
		ek := (k[i]-1)*dil[i] + 1
		switch n.Str("auto_pad", "NOTSET") {
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (in[i] + strides[i] - 1) / strides[i]
		case "VALID":
			out[i] = (in[i]-ek)/strides[i] + 1
		default:
			span := in[i] + pads[i] + pads[i+r] - ek
			if ceil {
				out[i] = (span+strides[i]-1)/strides[i] + 1
				// The last window must start inside the input or the left padding.
				if (out[i]-1)*strides[i] >= in[i]+pads[i] {
					out[i]--
				}
			} else {
				out[i] = span/strides[i] + 1
			}
		}
		if out[i] <= 0 {
			return nil, fmt.Errorf("spatial input %v is too small for kernel %v", in, k)
		}
	}
	return out, nil
}

// ReshapeTarget resolves a Reshape shape (0 copies the input dim unless allowZero, -1 is inferred).
// When a dimension of in that matters is unknown (negative), so is the inferred one (-1), and the
// element counts are not checked.
func ReshapeTarget(in []int, shape []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(shape))
	infer := -1
	known := 1
	unknown := false
	for i, s := range shape {
		switch {
		case s == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("Reshape shape %v has two -1", shape)
			}
			infer = i
			continue
		case s == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("Reshape shape %v copies dim %d of %v", shape, i, in)
			}
			out[i] = in[i]
		case s < 0:
			return nil, fmt.Errorf("Reshape shape %v has a negative dim", shape)
		default:
			out[i] = int(s)
		}
		if out[i] < 0 {
			out[i], unknown = -1, true
			continue
		}
		known *= out[i]
	}
	total := knownSize(in)
	if unknown || total < 0 {
		if infer >= 0 {
			out[infer] = -1
		}
		return out, nil
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("Reshape cannot infer -1 of %v from %v", shape, in)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("Reshape of %v (%d elements) to %v", in, total, shape)
	}
	return out, nil
}

// knownSize returns the number of elements of shape s, or -1 when a dimension is unknown (negative).
func knownSize(s []int) int {
	p := 1
	for _, d := range s {
		if d < 0 {
			return -1
		}
		p *= d
	}
	return p
}

// clone copies a shape; the copy of a scalar's shape is empty, never nil.
func clone(s []int) []int { return append([]int{}, s...) }
