package inject

import (
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// inferShapes propagates static shapes through the supported ops, from the declared graph inputs,
// initializers and constants. A dimension is -1 when it is dynamic or cannot be derived; a value
// whose rank is unknown is absent from the map. Shapes serve the dry-run table and the shape of
// per-channel parameters, never correctness of the rewritten graph.
func inferShapes(g *onnximport.Graph, opset int64) map[string][]int {
	sh := map[string][]int{}
	for name, t := range g.Initializers {
		sh[name] = append([]int{}, t.Dims...)
	}
	for _, in := range g.Inputs {
		if in.HasShape {
			sh[in.Name] = append([]int{}, in.Shape...)
		}
	}
	for _, n := range g.Nodes {
		if out := inferNode(g, sh, n, opset); out != nil && len(n.Outputs) > 0 && n.Outputs[0] != "" {
			sh[n.Outputs[0]] = out
		}
	}
	return sh
}

func inferNode(g *onnximport.Graph, sh map[string][]int, n *onnximport.Node, opset int64) []int {
	in := func(i int) []int {
		s, ok := sh[n.Input(i)]
		if !ok {
			return nil
		}
		return s
	}
	x := in(0)
	switch n.OpType {
	case "Constant":
		if t, err := onnximport.ConstantValue(n); err == nil {
			return append([]int{}, t.Dims...)
		}
	case "Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Sin", "Cos", "Identity", "Clip", "Softmax", "Dropout",
		"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
		"RandomNormalLike", "RandomUniformLike":
		return clone(x)
	case "Add", "Sub", "Mul", "Div", "Pow":
		return broadcast(x, in(1))
	case "Conv", "MaxPool", "AveragePool":
		return inferWindow(n, x, in(1))
	case "GlobalAveragePool":
		if x == nil || len(x) < 2 {
			return nil
		}
		out := clone(x)
		for i := 2; i < len(out); i++ {
			out[i] = 1
		}
		return out
	case "Gemm":
		a, b := in(0), in(1)
		if len(a) != 2 || len(b) != 2 {
			return nil
		}
		m, nn := a[0], b[1]
		if n.Int("transA", 0) != 0 {
			m = a[1]
		}
		if n.Int("transB", 0) != 0 {
			nn = b[0]
		}
		return []int{m, nn}
	case "MatMul":
		return inferMatMul(x, in(1))
	case "Flatten":
		if x == nil {
			return nil
		}
		axis := int(n.Int("axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis > len(x) {
			return nil
		}
		return []int{prod(x[:axis]), prod(x[axis:])}
	case "Reshape":
		t, ok := g.ConstValue(n.Input(1))
		if !ok {
			return nil
		}
		return inferReshape(x, t.Ints(), n.Int("allowzero", 0) != 0)
	case "Transpose":
		if x == nil {
			return nil
		}
		perm := n.Ints("perm", nil)
		out := make([]int, len(x))
		for i := range out {
			if perm == nil {
				out[i] = x[len(x)-1-i]
			} else if int(perm[i]) < len(x) {
				out[i] = x[perm[i]]
			} else {
				return nil
			}
		}
		return out
	case "Concat":
		axis := int(n.Int("axis", 0))
		var out []int
		for i := range n.Inputs {
			s := in(i)
			if s == nil {
				return nil
			}
			a := axis
			if a < 0 {
				a += len(s)
			}
			if a < 0 || a >= len(s) {
				return nil
			}
			if out == nil {
				out = clone(s)
				continue
			}
			if out[a] < 0 || s[a] < 0 {
				out[a] = -1
			} else {
				out[a] += s[a]
			}
		}
		return out
	case "ReduceMean":
		if x == nil {
			return nil
		}
		axes, ok := reduceAxes(g, n)
		if !ok {
			axes = nil
			for i := range x {
				axes = append(axes, int64(i))
			}
		}
		drop := map[int]bool{}
		for _, a := range axes {
			if a < 0 {
				a += int64(len(x))
			}
			drop[int(a)] = true
		}
		var out []int
		for i, d := range x {
			switch {
			case !drop[i]:
				out = append(out, d)
			case n.Int("keepdims", 1) != 0:
				out = append(out, 1)
			}
		}
		return out
	case "Resize":
		if x == nil {
			return nil
		}
		if t, ok := g.ConstValue(n.Input(3)); ok && t.Size() == len(x) {
			out := make([]int, len(x))
			for i, v := range t.Ints() {
				out[i] = int(v)
			}
			return out
		}
		if t, ok := g.ConstValue(n.Input(2)); ok && t.Size() == len(x) {
			out := make([]int, len(x))
			for i, s := range t.Floats() {
				out[i] = -1
				if x[i] >= 0 {
					out[i] = int(float32(x[i]) * s) // floor, as the spec says
				}
			}
			return out
		}
		return nil
	case "GridSample":
		grid := in(1)
		if len(x) != 4 || len(grid) != 4 {
			return nil
		}
		return []int{x[0], x[1], grid[1], grid[2]}
	}
	return nil
}

func clone(s []int) []int {
	if s == nil {
		return nil
	}
	return append([]int{}, s...)
}

func prod(s []int) int {
	p := 1
	for _, d := range s {
		if d < 0 {
			return -1
		}
		p *= d
	}
	return p
}

// broadcast applies the numpy broadcasting rule; an unknown dimension meeting a 1 stays unknown.
func broadcast(a, b []int) []int {
	if a == nil || b == nil {
		return nil
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	out := clone(a)
	off := len(a) - len(b)
	for i, d := range b {
		o := out[off+i]
		switch {
		case d == 1:
		case o == 1:
			out[off+i] = d
		case o < 0 || d < 0:
			out[off+i] = max(o, d)
		}
	}
	return out
}

func inferMatMul(a, b []int) []int {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	if len(a) == 1 && len(b) == 1 {
		return []int{}
	}
	if len(a) == 1 {
		return append(clone(b[:len(b)-2]), b[len(b)-1])
	}
	if len(b) == 1 {
		return clone(a[:len(a)-1])
	}
	batch := broadcast(a[:len(a)-2], b[:len(b)-2])
	return append(batch, a[len(a)-2], b[len(b)-1])
}

func inferReshape(x []int, target []int64, allowZero bool) []int {
	out := make([]int, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d == 0 && !allowZero:
			if x == nil || i >= len(x) {
				return nil
			}
			out[i] = x[i]
		case d == -1:
			infer = i
		default:
			out[i] = int(d)
		}
	}
	if infer >= 0 {
		out[infer] = -1
		total, rest := prod(x), 1
		for i, d := range out {
			if i != infer {
				if d < 0 {
					rest = -1
					break
				}
				rest *= d
			}
		}
		if x != nil && total >= 0 && rest > 0 {
			out[infer] = total / rest
		}
	}
	return out
}

// inferWindow computes the output shape of Conv, MaxPool and AveragePool.
func inferWindow(n *onnximport.Node, x, w []int) []int {
	if len(x) < 3 {
		return nil
	}
	spatial := len(x) - 2
	out := []int{x[0], x[1]}
	kernel := n.Ints("kernel_shape", nil)
	if n.OpType == "Conv" {
		if len(w) != len(x) {
			return nil
		}
		out[1] = w[0]
		if kernel == nil {
			for _, d := range w[2:] {
				kernel = append(kernel, int64(d))
			}
		}
	}
	if len(kernel) != spatial {
		return nil
	}
	strides := n.Ints("strides", nil)
	dil := n.Ints("dilations", nil)
	pads := n.Ints("pads", nil)
	autoPad := n.Str("auto_pad", "NOTSET")
	ceil := n.Int("ceil_mode", 0) != 0
	for i := 0; i < spatial; i++ {
		d := x[2+i]
		s, dl := int64(1), int64(1)
		if i < len(strides) {
			s = strides[i]
		}
		if i < len(dil) {
			dl = dil[i]
		}
		if d < 0 || s <= 0 {
			out = append(out, -1)
			continue
		}
		ek := (kernel[i]-1)*dl + 1
		var o int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (int64(d) + s - 1) / s
		case "VALID":
			o = (int64(d)-ek)/s + 1
		default:
			var pb, pe int64
			if len(pads) == 2*spatial {
				pb, pe = pads[i], pads[i+spatial]
			}
			num := int64(d) + pb + pe - ek
			if ceil {
				o = (num+s-1)/s + 1
			} else {
				o = num/s + 1
			}
		}
		out = append(out, int(o))
	}
	return out
}
