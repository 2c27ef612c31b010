package onnximport

import (
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// buildGraph decodes, validates and sorts a GraphProto.
// Op-level problems (unsupported op, attribute value or opset) are collected in unsupported rather
// than returned, so that a permissive load can list them all.
func buildGraph(gp *onnxpb.GraphProto, opset int64) (g *Graph, unsupported []error, err error) {
	g = &Graph{
		Constants:    map[string]*Tensor{},
		Initializers: map[string]*Tensor{},
		Producer:     map[string]*Node{},
		Consumers:    map[string][]*Node{},
	}
	// Every size any tensor declares is checked before any is decoded.
	if err := checkGraphSizes(gp); err != nil {
		return nil, nil, err
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, nil, fmt.Errorf("sparse initializer %q is not supported", gp.GetSparseInitializer()[0].GetValues().GetName())
	}
	for _, tp := range gp.GetInitializer() {
		t, err := DecodeTensor(tp)
		if err != nil {
			return nil, nil, fmt.Errorf("initializer: %w", err)
		}
		if t.Name == "" {
			return nil, nil, fmt.Errorf("initializer #%d has no name", len(g.InitializerNames))
		}
		if _, dup := g.Initializers[t.Name]; dup {
			return nil, nil, fmt.Errorf("initializer %q is declared twice", t.Name)
		}
		g.Initializers[t.Name] = t
		g.InitializerNames = append(g.InitializerNames, t.Name)
	}
	available := map[string]bool{}
	for name := range g.Initializers {
		available[name] = true
	}
	for _, vp := range gp.GetInput() {
		if _, isInit := g.Initializers[vp.GetName()]; isInit {
			continue // IR < 4 lists initializers among the inputs
		}
		g.Inputs = append(g.Inputs, valueFromProto(vp))
		available[vp.GetName()] = true
	}
	if len(gp.GetNode()) == 0 {
		return nil, nil, fmt.Errorf("graph %q is empty: it has no nodes", gp.GetName())
	}
	nodes := make([]*Node, 0, len(gp.GetNode()))
	for i, np := range gp.GetNode() {
		n, err := decodeNode(np, i)
		if err != nil {
			return nil, nil, err
		}
		if err := adaptNode(g, n, opset); err != nil {
			unsupported = append(unsupported, fmt.Errorf("%w (model opset %d)", err, opset))
		} else if err := checkNode(n, opset); err != nil {
			unsupported = append(unsupported, fmt.Errorf("%w (model opset %d)", err, opset))
		}
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if prev, dup := g.Producer[out]; dup {
				return nil, nil, fmt.Errorf("%v: output %q is also produced by %v", n, out, prev)
			}
			if available[out] {
				return nil, nil, fmt.Errorf("%v: output %q overwrites a graph input or initializer", n, out)
			}
			g.Producer[out] = n
		}
		nodes = append(nodes, n)
	}
	for name := range g.Constants {
		available[name] = true
	}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in != "" && !available[in] && g.Producer[in] == nil {
				return nil, nil, fmt.Errorf("%v: input %q is not produced by any node, initializer or graph input (dangling edge)", n, in)
			}
		}
	}
	sorted, err := topoSort(nodes, g.Producer)
	if err != nil {
		return nil, nil, err
	}
	g.Nodes = sorted
	for _, n := range sorted {
		for _, in := range n.Inputs {
			if in != "" {
				g.Consumers[in] = append(g.Consumers[in], n)
			}
		}
	}
	for _, vp := range gp.GetOutput() {
		v := valueFromProto(vp)
		if !available[v.Name] && g.Producer[v.Name] == nil {
			return nil, nil, fmt.Errorf("graph output %q is not produced by any node", v.Name)
		}
		g.Outputs = append(g.Outputs, v)
	}
	if len(g.Outputs) == 0 {
		return nil, nil, fmt.Errorf("graph %q has no outputs", gp.GetName())
	}
	return g, unsupported, nil
}

// topoSort orders nodes so that producers come first, keeping file order among independent nodes
// (Kahn's algorithm over node indices). A cycle is reported with one node on it.
func topoSort(nodes []*Node, producer map[string]*Node) ([]*Node, error) {
	indeg := make(map[*Node]int, len(nodes))
	users := make(map[*Node][]*Node, len(nodes))
	for _, n := range nodes {
		seen := map[*Node]bool{}
		for _, in := range n.Inputs {
			if p := producer[in]; p != nil && !seen[p] {
				seen[p] = true
				indeg[n]++
				users[p] = append(users[p], n)
			}
		}
	}
	// A min-heap on Index keeps the order stable; a sorted ready list is simple and fast enough
	// for graphs of a few thousand nodes.
	var ready []*Node
	for _, n := range nodes {
		if indeg[n] == 0 {
			ready = append(ready, n)
		}
	}
	out := make([]*Node, 0, len(nodes))
	for len(ready) > 0 {
		best := 0
		for i := range ready {
			if ready[i].Index < ready[best].Index {
				best = i
			}
		}
		n := ready[best]
		ready = append(ready[:best], ready[best+1:]...)
		out = append(out, n)
		for _, u := range users[n] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(out) != len(nodes) {
		for _, n := range nodes {
			if indeg[n] > 0 {
				return nil, fmt.Errorf("%v is on a cycle: the graph is not a DAG", n)
			}
		}
	}
	return out, nil
}

// ConstValue returns the value of name when it is an initializer, a constant synthesized by an
// op-version adapter or the output of a Constant node.
func (g *Graph) ConstValue(name string) (*Tensor, bool) {
	if t, ok := g.Initializers[name]; ok {
		return t, true
	}
	if t, ok := g.Constants[name]; ok {
		return t, true
	}
	if p := g.Producer[name]; p != nil && p.OpType == "Constant" {
		t, err := constantValue(p)
		return t, err == nil
	}
	return nil, false
}

// Input returns the graph input with the given name.
func (g *Graph) Input(name string) (*Value, bool) {
	for _, v := range g.Inputs {
		if v.Name == name {
			return v, true
		}
	}
	return nil, false
}

// constantValue decodes the value of a Constant node.
func constantValue(n *Node) (*Tensor, error) {
	name := n.Outputs[0]
	if a, ok := n.Attrs["value"]; ok && a.T != nil {
		t := *a.T
		t.Name = name
		return &t, nil
	}
	if a, ok := n.Attrs["value_float"]; ok {
		return &Tensor{Name: name, DType: Float32, Dims: []int{}, Float: []float32{a.F}}, nil
	}
	if a, ok := n.Attrs["value_floats"]; ok {
		return &Tensor{Name: name, DType: Float32, Dims: []int{len(a.Floats)}, Float: a.Floats}, nil
	}
	if a, ok := n.Attrs["value_int"]; ok {
		return &Tensor{Name: name, DType: Int64, Dims: []int{}, Int: []int64{a.I}}, nil
	}
	if a, ok := n.Attrs["value_ints"]; ok {
		return &Tensor{Name: name, DType: Int64, Dims: []int{len(a.Ints)}, Int: a.Ints}, nil
	}
	return nil, fmt.Errorf("%v: only value, value_float(s) and value_int(s) are supported", n)
}

// ConstantValue returns the tensor a Constant node holds.
func ConstantValue(n *Node) (*Tensor, error) { return constantValue(n) }
