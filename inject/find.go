package inject

import (
	"slices"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// opDecomposedLN is the op reported for a layer norm spelled out with elementary ops.
const opDecomposedLN = "LayerNormalization(decomposed)"

func normOps() []string {
	return []string{"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
		"decomposed LayerNorm (ReduceMean→Sub→Pow→ReduceMean→Add→Sqrt→Div)"}
}

// point is one place where noise goes: after node's first output.
type point struct {
	// node produces the value that gets noise: the normalization node, or the last node of a
	// decomposed layer norm (its Div, or the affine Mul/Add after it).
	node *onnximport.Node
	// op is the normalization's op type, or opDecomposedLN.
	op string
	// norm is the normalization node itself (the Div of a decomposed layer norm).
	norm *onnximport.Node
	// axes are the normalized axes of a decomposed layer norm (from its ReduceMean).
	axes []int64
	// generic marks a point chosen with --at (any node, no affine part to split); logSigma0, when
	// not 0, is its own initial log σ (a Dropout node's rate).
	generic   bool
	logSigma0 float64
}

// Point is a normalization point: Node names the node after which Apply adds noise (the
// normalization node, or the last node of a decomposed layer norm), Op its normalization op
// ("LayerNormalization(decomposed)" for a spelled-out layer norm).
type Point struct {
	Node, Op string
}

// Points returns the normalization points of g in topological order: where Apply adds noise
// before Options.Where and Skip select among them. It is the one detection of normalization;
// `xreg-onnx inspect` lists it.
func Points(g *onnximport.Graph) []Point {
	ps := findPoints(g)
	out := make([]Point, len(ps))
	for i, p := range ps {
		out[i] = Point{Node: p.node.Name, Op: p.op}
	}
	return out
}

// findPoints returns the normalization points of g in topological order.
func findPoints(g *onnximport.Graph) []*point {
	var out []*point
	for _, n := range g.Nodes {
		switch n.OpType {
		case "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization":
			out = append(out, &point{node: n, op: n.OpType, norm: n})
		case "Div":
			if p := matchDecomposedLN(g, n); p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// matchDecomposedLN recognises div as the end of (x − mean(x)) / sqrt(mean((x − mean(x))²) + eps)
// and extends the match over an affine Mul (and Add) by constants that follow it alone.
func matchDecomposedLN(g *onnximport.Graph, div *onnximport.Node) *point {
	sqrt := producer(g, div.Input(1), "Sqrt")
	if sqrt == nil {
		return nil
	}
	add := producer(g, sqrt.Input(0), "Add")
	if add == nil {
		return nil
	}
	var rm2 *onnximport.Node
	for i := 0; i < 2; i++ {
		if r := producer(g, add.Input(i), "ReduceMean"); r != nil && isConst(g, add.Input(1-i)) {
			rm2 = r
		}
	}
	if rm2 == nil {
		return nil
	}
	pow := producer(g, rm2.Input(0), "Pow")
	if pow == nil || pow.Input(0) != div.Input(0) {
		return nil
	}
	if e, ok := g.ConstValue(pow.Input(1)); !ok || e.Size() != 1 || e.Floats()[0] != 2 {
		return nil
	}
	sub := producer(g, div.Input(0), "Sub")
	if sub == nil {
		return nil
	}
	rm1 := producer(g, sub.Input(1), "ReduceMean")
	if rm1 == nil || rm1.Input(0) != sub.Input(0) {
		return nil
	}
	a1, ok1 := reduceAxes(g, rm1)
	a2, ok2 := reduceAxes(g, rm2)
	if !ok1 || !ok2 || !slices.Equal(a1, a2) || rm1.Int("keepdims", 1) != 1 || rm2.Int("keepdims", 1) != 1 {
		return nil
	}
	p := &point{node: div, op: opDecomposedLN, norm: div, axes: a1}
	if mul := soleConsumer(g, div, "Mul"); mul != nil && isConst(g, other(mul, div.Outputs[0])) {
		p.node = mul
		if add := soleConsumer(g, mul, "Add"); add != nil && isConst(g, other(add, mul.Outputs[0])) {
			p.node = add
		}
	}
	return p
}

// producer returns the node of the given op producing value, or nil.
func producer(g *onnximport.Graph, value, op string) *onnximport.Node {
	if p := g.Producer[value]; p != nil && p.OpType == op {
		return p
	}
	return nil
}

// soleConsumer returns the only consumer of n's first output when it has the given op and the
// output is not a graph output.
func soleConsumer(g *onnximport.Graph, n *onnximport.Node, op string) *onnximport.Node {
	v := n.Outputs[0]
	for _, o := range g.Outputs {
		if o.Name == v {
			return nil
		}
	}
	cs := g.Consumers[v]
	if len(cs) != 1 || cs[0].OpType != op {
		return nil
	}
	return cs[0]
}

// other returns the input of a binary node that is not v ("" when both are v).
func other(n *onnximport.Node, v string) string {
	switch v {
	case n.Input(0):
		if n.Input(1) == v {
			return ""
		}
		return n.Input(1)
	case n.Input(1):
		return n.Input(0)
	}
	return ""
}

func isConst(g *onnximport.Graph, v string) bool {
	if v == "" {
		return false
	}
	_, ok := g.ConstValue(v)
	return ok
}

// reduceAxes returns the axes of a ReduceMean: the attribute (opset < 18) or the constant second
// input (opset ≥ 18). No axes means all axes, which a layer norm never uses.
func reduceAxes(g *onnximport.Graph, n *onnximport.Node) ([]int64, bool) {
	if n.Has("axes") {
		return n.Ints("axes", nil), true
	}
	if n.Input(1) != "" {
		if t, ok := g.ConstValue(n.Input(1)); ok {
			return t.Ints(), true
		}
	}
	return nil, false
}
