package onnximport

import (
	"fmt"
)

// InferShapes propagates static shapes from the graph inputs through every node. inputs gives the
// concrete shape of graph inputs; an input not listed uses its declared shape with every symbolic
// dimension set to batch. The result maps every value name (inputs, initializers, node outputs) to
// its shape.
func (m *Model) InferShapes(inputs map[string][]int, batch int) (map[string][]int, error) {
	g := m.Graph
	shapes := map[string][]int{}
	consts := map[string]*Tensor{}
	for name, t := range g.Initializers {
		shapes[name] = t.Dims
		consts[name] = t
	}
	for _, in := range g.Inputs {
		if s, ok := inputs[in.Name]; ok {
			shapes[in.Name] = s
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
	for _, n := range g.Nodes {
		if n.OpType == "Constant" {
			t, err := constantValue(n)
			if err != nil {
				return nil, fmt.Errorf("onnximport: %w", err)
			}
			consts[n.Outputs[0]] = t
			shapes[n.Outputs[0]] = t.Dims
			continue
		}
		in := make([][]int, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			s, ok := shapes[name]
			if !ok {
				return nil, fmt.Errorf("onnximport: %v: shape of input %q unknown", n, name)
			}
			if s == nil {
				s = []int{} // a scalar
			}
			in[i] = s
		}
		out, err := inferNode(n, in, consts, m.Opset)
		if err != nil {
			return nil, fmt.Errorf("onnximport: %v: %w", n, err)
		}
		shapes[n.Outputs[0]] = out
	}
	return shapes, nil
}

func inferNode(n *Node, in [][]int, consts map[string]*Tensor, opset int64) ([]int, error) {
	need := func(k int) error {
		for i := 0; i < k; i++ {
			if i >= len(in) || in[i] == nil {
				return fmt.Errorf("needs %d inputs", k)
			}
		}
		return nil
	}
	if err := need(1); err != nil {
		return nil, err
	}
	x := in[0]
	switch n.OpType {
	case "Add", "Sub", "Mul", "Div", "Pow":
		if err := need(2); err != nil {
			return nil, err
		}
		return Broadcast(x, in[1])
	case "Sqrt", "Exp", "Relu", "Sigmoid", "Tanh", "Identity", "Dropout", "Clip", "Softmax",
		"RandomNormalLike", "RandomUniformLike", "LayerNormalization", "BatchNormalization":
		return clone(x), nil
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
		if ka != kb {
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
		if x[1] != w[1]*int(n.Int("group", 1)) {
			return nil, fmt.Errorf("Conv input has %d channels, weight %v with group %d expects %d", x[1], w, n.Int("group", 1), w[1]*int(n.Int("group", 1)))
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
		return []int{numel(x[:axis]), numel(x[axis:])}, nil
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
		axis := int(n.Int("axis", 0))
		if axis < 0 {
			axis += len(x)
		}
		out := clone(x)
		for _, s := range in[1:] {
			if len(s) != len(x) {
				return nil, fmt.Errorf("Concat inputs %v and %v differ in rank", x, s)
			}
			out[axis] += s[axis]
		}
		return out, nil
	case "ReduceMean":
		var axes []int64
		if opset >= 18 {
			if n.Input(1) != "" {
				t, ok := consts[n.Input(1)]
				if !ok {
					return nil, fmt.Errorf("ReduceMean axes %q must be a constant", n.Input(1))
				}
				axes = t.Ints()
			}
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
				return nil, fmt.Errorf("ReduceMean axis out of range for %v", x)
			}
			reduce[a] = true
		}
		var out []int
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
			out[i] = int(float64(x[i]) * float64(s)) // floor, as the spec says
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
	return nil, fmt.Errorf("no shape rule for op %s", n.OpType)
}

// Broadcast returns the numpy-style broadcast of two shapes.
func Broadcast(a, b []int) ([]int, error) {
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

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
	if a[len(a)-1] != b[len(b)-2] {
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
// (kernel k, strides, dilations, pads, auto_pad), per the ONNX operator definitions.
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
func ReshapeTarget(in []int, shape []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(shape))
	infer := -1
	known := 1
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
		known *= out[i]
	}
	total := numel(in)
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

func clone(s []int) []int { return append([]int(nil), s...) }
