package onnximport

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
)

// WeightStore says where the value of a weight is stored in the model.
type WeightStore string

// The places a weight can live.
const (
	// StoreInitializer: a float initializer that the nodes read directly.
	StoreInitializer WeightStore = "initializer"
	// StoreIdentity: the output of an Identity node (or a chain of them) whose root is an
	// initializer or a Constant node. Exporters that deduplicate identical values (torch ≥ 1.13)
	// feed several parameters from one initializer this way: each Identity output is a weight of
	// its own.
	StoreIdentity WeightStore = "via Identity"
	// StoreConstant: the output of a Constant node (paddle2onnx, tf2onnx, frozen graphs).
	StoreConstant WeightStore = "Constant node"
)

// Weight is a trainable tensor of the model: a param, or running state (BatchNormalization mean
// and variance). Its Name is the value the consuming nodes read, which is the name the executor
// and the trainer use for it.
type Weight struct {
	Name  string
	Store WeightStore
	// Root is the initializer name (StoreInitializer, or StoreIdentity rooted in an initializer) or
	// the Constant node's name holding the value; RootIsConstant says which.
	Root           string
	RootIsConstant bool
	// Via lists the Identity nodes from the root to Name (StoreIdentity), in order.
	Via []string
	// Value is the weight's current value, named Name.
	Value *Tensor
	// Uses names the reading nodes and input slots ("node \"conv1\" (Conv) input 1").
	Uses []string
	// State is true for BatchNormalization running statistics.
	State bool
	// Selected is true when WeightOptions.Select chose it (it feeds no weight slot).
	Selected bool
}

// WeightOptions configures Model.Weights.
type WeightOptions struct {
	// Select makes trainable every float value whose name (or whose Constant node's name) it
	// matches, besides the weight slots; a match that cannot be trained is an error.
	Select *regexp.Regexp
	// Skip excludes nodes that are not the model's own (the subgraphs inject adds): their
	// constants are never weights, and a weight slot they compute is theirs.
	Skip func(*Node) bool
	// Params are float initializers that are params even though only skipped nodes read them
	// (the weight under inject's learnable norm).
	Params []string
}

// weightSlots lists, per op type, the inputs that hold weights, and which of them are state.
var weightSlots = map[string]struct{ params, state []int }{
	"Conv":                  {params: []int{1, 2}},
	"ConvTranspose":         {params: []int{1, 2}},
	"Gemm":                  {params: []int{0, 1, 2}},
	"MatMul":                {params: []int{0, 1}},
	"BatchNormalization":    {params: []int{1, 2}, state: []int{3, 4}},
	"LayerNormalization":    {params: []int{1, 2}},
	"InstanceNormalization": {params: []int{1, 2}},
	"GroupNormalization":    {params: []int{1, 2}},
	"PRelu":                 {params: []int{1}},
}

// biasProducers are the ops whose output, when added to a constant (Add), makes that constant a
// bias: exporters that keep Linear as MatMul + Add (paddle2onnx, tf2onnx) or Conv without bias + Add.
var biasProducers = map[string]bool{"Conv": true, "ConvTranspose": true, "MatMul": true, "Gemm": true}

// reshapeOps move a weight without computing on it: a weight slot reached from a Constant through
// them trains the Constant (the gradient flows through the op).
var reshapeOps = map[string]bool{"Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "Flatten": true}

// UntrainableError reports a weight that feeds a weight slot (or that the user selected) but that
// cannot be trained: computed from constants by an op, or of an element type the trainer does not
// write.
type UntrainableError struct {
	Value  string
	Use    string
	Reason string
}

func (e *UntrainableError) Error() string {
	return fmt.Sprintf("onnximport: weight %q (%s) cannot be trained: %s", e.Value, e.Use, e.Reason)
}

// Weights lists the model's trainable tensors and where each lives: every float initializer read
// by a node (as before: any float initializer used as op data is a param), every value an Identity
// chain derives from a float initializer, every float32 Constant output that a weight slot reads
// (Conv/ConvTranspose weight and bias, Gemm and MatMul operands, normalization scale and bias
// unless a Constant of ones (scale) or zeros (bias) says the layer has no affine step,
// BatchNormalization running statistics as state, PRelu slope, the Add bias after a Conv, MatMul
// or Gemm, the scale and bias of a decomposed layer norm: Mul after a Div by a Sqrt, Add after it)
// directly or through Identity, Reshape, Transpose, Squeeze, Unsqueeze or Flatten nodes, and what
// opt.Select picks. The list is sorted by name. A weight slot computed by other ops trains through
// them when a float initializer (a param) is among their inputs; one computed from constants alone,
// or a Constant of another float type, is returned as an *UntrainableError, in graph order. A
// selection that matches nothing or something not trainable is an error.
func (m *Model) Weights(opt WeightOptions) ([]*Weight, []*UntrainableError, error) {
	g := m.Graph
	skip := func(n *Node) bool { return opt.Skip != nil && opt.Skip(n) }
	ws := map[string]*Weight{}
	var bad []*UntrainableError
	badSeen := map[string]bool{}
	addUse := func(w *Weight, use string) {
		if !slices.Contains(w.Uses, use) {
			w.Uses = append(w.Uses, use)
		}
	}
	resolve := func(v string) (*Weight, *Node) {
		if ws[v] != nil {
			return ws[v], nil
		}
		return g.resolveWeight(v)
	}
	// constOnly reports whether value v is computed from constants alone (no graph input).
	memo := map[string]bool{}
	var constOnly func(v string) bool
	constOnly = func(v string) bool {
		if r, ok := memo[v]; ok {
			return r
		}
		memo[v] = false
		r := false
		if _, ok := g.Initializers[v]; ok {
			r = true
		} else if p := g.Producer[v]; p != nil {
			r = true
			for _, in := range p.Inputs {
				if in != "" && !constOnly(in) {
					r = false
				}
			}
		}
		memo[v] = r
		return r
	}
	// fromParam reports whether v is computed from a float initializer: a param, which trains
	// (and v with it) through the ops in between, as swin's relative position bias, a Gather
	// of its table, in an export without constant folding.
	pmemo := map[string]bool{}
	var fromParam func(v string) bool
	fromParam = func(v string) bool {
		if r, ok := pmemo[v]; ok {
			return r
		}
		pmemo[v] = false
		r := false
		if t, ok := g.Initializers[v]; ok {
			r = t.DType.IsFloat()
		} else if p := g.Producer[v]; p != nil && !skip(p) {
			for _, in := range p.Inputs {
				if in != "" && fromParam(in) {
					r = true
					break
				}
			}
		}
		pmemo[v] = r
		return r
	}
	// slot records the weight read by node n's input i (state for running statistics).
	var slot func(n *Node, i int, v string, state bool, depth int)
	slot = func(n *Node, i int, v string, state bool, depth int) {
		use := fmt.Sprintf("%v input %d", n, i)
		w, computed := resolve(v)
		for cur := v; w != nil; {
			p := g.Producer[cur]
			if p == nil {
				break
			}
			if skip(p) {
				return // a constant the skipped subgraphs put there (inject's fixed affine of a split node)
			}
			cur = p.Input(0)
		}
		switch {
		case w != nil:
			if ws[w.Name] == nil {
				ws[w.Name] = w
			}
			w = ws[w.Name]
			w.State = w.State || state
			addUse(w, use)
		case computed != nil && skip(computed):
			// Computed by a skipped subgraph (inject's learnable weight norm): the subgraph's
			// inputs are what trains, listed in Params.
		case computed != nil && reshapeOps[computed.OpType] && depth < 8:
			slot(computed, 0, computed.Input(0), state, depth+1)
		case computed != nil && constOnly(v) && !fromParam(v):
			reason := fmt.Sprintf("it is computed from constants by %v", computed)
			if computed.OpType == "Constant" {
				reason = "a Constant node of another element type than float32"
			}
			if !badSeen[v] {
				badSeen[v] = true
				bad = append(bad, &UntrainableError{Value: v, Use: use, Reason: reason})
			}
		}
	}
	for _, n := range g.Nodes {
		if skip(n) || n.OpType == "Identity" {
			continue
		}
		// Every float initializer used as op data is a param, and so is an Identity chain of one.
		for i, in := range n.Inputs {
			if in == "" {
				continue
			}
			if w, _ := resolve(in); w != nil && !w.RootIsConstant {
				if ws[w.Name] == nil {
					ws[w.Name] = w
				}
				addUse(ws[w.Name], fmt.Sprintf("%v input %d", n, i))
			}
		}
		s, ok := weightSlots[n.OpType]
		if n.OpType == "Add" && len(n.Inputs) == 2 {
			for i := range 2 {
				if p := g.Producer[n.Input(1-i)]; p != nil && (biasProducers[p.OpType] || lnScale(g, p)) {
					s, ok = struct{ params, state []int }{params: []int{i}}, true
				}
			}
		}
		if lnScale(g, n) {
			for i := range 2 {
				if p := g.Producer[n.Input(1-i)]; p != nil && p.OpType == "Div" {
					s, ok = struct{ params, state []int }{params: []int{i}}, true
				}
			}
		}
		if !ok {
			continue
		}
		for _, i := range s.params {
			if n.Input(i) != "" && !noAffine(g, n, i) {
				slot(n, i, n.Input(i), false, 0)
			}
		}
		for _, i := range s.state {
			if n.Input(i) != "" {
				slot(n, i, n.Input(i), true, 0)
			}
		}
	}
	for _, name := range opt.Params {
		w, _ := resolve(name)
		if w == nil {
			return nil, nil, fmt.Errorf("onnximport: param %q is not a float initializer of the model", name)
		}
		if ws[w.Name] == nil {
			ws[w.Name] = w
		}
	}
	if opt.Select != nil {
		if err := m.selectWeights(opt.Select, ws, resolve, skip); err != nil {
			return nil, nil, err
		}
	}
	out := make([]*Weight, 0, len(ws))
	for _, w := range ws {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, bad, nil
}

// ResolveWeight returns the weight that value name holds when it is a float initializer, a float32
// Constant output or an Identity chain of one, wherever the model uses it.
func (m *Model) ResolveWeight(name string) (*Weight, error) {
	w, computed := m.Graph.resolveWeight(name)
	if w == nil {
		if computed != nil {
			return nil, fmt.Errorf("onnximport: %q is computed by %v, not stored in the model", name, computed)
		}
		return nil, fmt.Errorf("onnximport: %q is not a float initializer, Constant or Identity output of the model", name)
	}
	return w, nil
}

// resolveWeight follows an Identity chain from value v back to its root: the weight it holds, or
// nil and the node that computes it (nil, nil for graph inputs and non-float values).
func (g *Graph) resolveWeight(v string) (*Weight, *Node) {
	var via []string
	cur := v
	for {
		if t, ok := g.Initializers[cur]; ok {
			if !t.DType.IsFloat() {
				return nil, nil
			}
			w := &Weight{Name: v, Store: StoreInitializer, Root: cur, Value: t}
			if len(via) > 0 {
				slices.Reverse(via)
				c := *t
				c.Name = v
				w.Store, w.Via, w.Value = StoreIdentity, via, &c
			}
			return w, nil
		}
		p := g.Producer[cur]
		if p == nil {
			return nil, nil // a graph input: activations, not a weight
		}
		switch p.OpType {
		case "Identity":
			via = append(via, p.Name)
			cur = p.Input(0)
			continue
		case "Constant":
			t, err := constantValue(p)
			if err != nil || !t.DType.IsFloat() {
				return nil, nil
			}
			if t.DType != Float32 {
				return nil, p
			}
			c := *t
			c.Name = v
			w := &Weight{Name: v, Store: StoreConstant, Root: p.Name, RootIsConstant: true, Value: &c}
			if len(via) > 0 {
				slices.Reverse(via)
				w.Store, w.Via = StoreIdentity, via
			}
			return w, nil
		}
		return nil, p
	}
}

// lnScale reports whether n is the affine scale of a decomposed layer norm, as exporters write
// LayerNorm below opset 17 (… Sqrt → Div, then Mul by the scale and Add of the bias): a Mul of two
// inputs, one the output of a Div by a Sqrt.
func lnScale(g *Graph, n *Node) bool {
	if n.OpType != "Mul" || len(n.Inputs) != 2 {
		return false
	}
	for i := range 2 {
		if d := g.Producer[n.Input(i)]; d != nil && d.OpType == "Div" {
			if s := g.Producer[d.Input(1)]; s != nil && s.OpType == "Sqrt" {
				return true
			}
		}
	}
	return false
}

// noAffine reports whether input i of a normalization node is a Constant (directly or through
// Identity) holding the identity of the affine step: a scale of ones or a bias of zeros. Exporters
// write those for a layer without affine parameters (torch's GroupNorm through
// InstanceNormalization, LayerNorm without elementwise_affine at opset 17); they are not weights.
func noAffine(g *Graph, n *Node, i int) bool {
	switch n.OpType {
	case "LayerNormalization", "InstanceNormalization", "GroupNormalization":
	default:
		return false
	}
	w, _ := g.resolveWeight(n.Input(i))
	if w == nil || !w.RootIsConstant {
		return false
	}
	want := float32(1)
	if i == 2 {
		want = 0
	}
	for _, x := range w.Value.Floats() {
		if x != want {
			return false
		}
	}
	return true
}

// selectWeights adds the values the user's pattern selects.
func (m *Model) selectWeights(re *regexp.Regexp, ws map[string]*Weight, resolve func(string) (*Weight, *Node), skip func(*Node) bool) error {
	g := m.Graph
	matched := 0
	var names []string
	for _, n := range g.Nodes {
		if skip(n) {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" && !slices.Contains(names, in) {
				names = append(names, in)
			}
		}
	}
	for _, v := range names {
		nodeName := ""
		if p := g.Producer[v]; p != nil {
			nodeName = p.Name
		}
		if !re.MatchString(v) && (nodeName == "" || !re.MatchString(nodeName)) {
			continue
		}
		if _, isInput := g.Input(v); isInput {
			continue
		}
		p := g.Producer[v]
		if p != nil && p.OpType != "Constant" && p.OpType != "Identity" {
			continue // an activation
		}
		matched++
		w, computed := resolve(v)
		if w == nil {
			reason := "it is not a float tensor"
			if computed != nil {
				reason = fmt.Sprintf("it is computed by %v", computed)
			}
			return fmt.Errorf("onnximport: weight %q (selected by %q) cannot be trained: %s", v, re, reason)
		}
		if ws[w.Name] == nil {
			w.Selected = true
			ws[w.Name] = w
		}
		for _, c := range g.Consumers[v] {
			for i, in := range c.Inputs {
				if in == v {
					use := fmt.Sprintf("%v input %d", c, i)
					if !slices.Contains(ws[w.Name].Uses, use) {
						ws[w.Name].Uses = append(ws[w.Name].Uses, use)
					}
				}
			}
		}
	}
	if matched == 0 {
		return fmt.Errorf("onnximport: the pattern %q selects no initializer, Constant or Identity output", re)
	}
	return nil
}

// SetWeight writes a trained value back where the weight lives: into its initializer or its
// Constant node, in place. A weight fed through Identity nodes is written into the root it shares
// with nothing else; when the root is shared (an exporter deduplicated identical initial values)
// and the value now differs from the root's, the weight is un-shared: a new initializer named
// "<name>.unshared" (suffixed "_2", "_3", … if taken) holds it and the last Identity of the chain
// reads it, so the graph keeps every node. An equal value leaves the sharing as it is. The graph
// view is refreshed when the structure changed.
func (m *Model) SetWeight(w *Weight, data []float32) error {
	if len(data) != w.Value.Size() {
		return fmt.Errorf("onnximport: weight %q: %d values, the model's has dims %v", w.Name, len(data), w.Value.Dims)
	}
	g := m.Graph
	if w.Store == StoreInitializer {
		return m.SetInitializer(NewFloatTensor(w.Name, w.Value.Dims, data))
	}
	if w.Store == StoreConstant {
		return m.setConstant(g.Producer[w.Name], data)
	}
	// Via Identity: is the root read by anything but this chain?
	first := m.nodeByName(w.Via[0])
	if first == nil {
		return fmt.Errorf("onnximport: weight %q: Identity node %q not found", w.Name, w.Via[0])
	}
	rootValue := first.Input(0)
	shared := len(g.Consumers[rootValue]) > 1 || m.isGraphOutput(rootValue)
	for _, name := range w.Via[:len(w.Via)-1] {
		n := m.nodeByName(name)
		if n == nil || len(g.Consumers[n.Outputs[0]]) > 1 || m.isGraphOutput(n.Outputs[0]) {
			shared = true
		}
	}
	if !shared {
		if w.RootIsConstant {
			return m.setConstant(g.Producer[rootValue], data)
		}
		return m.SetInitializer(NewFloatTensor(rootValue, w.Value.Dims, data))
	}
	cur, ok := g.ConstValue(rootValue)
	if ok && slices.Equal(cur.Floats(), data) {
		return nil
	}
	ed := m.Edit()
	name, err := ed.Initializer(NewFloatTensor(w.Name+".unshared", w.Value.Dims, append([]float32(nil), data...)))
	if err != nil {
		return fmt.Errorf("onnximport: weight %q: %w", w.Name, err)
	}
	last := m.nodeByName(w.Via[len(w.Via)-1])
	ed.NodeProto(last).Input[0] = name
	return ed.Apply()
}

func (m *Model) nodeByName(name string) *Node {
	for _, n := range m.Graph.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (m *Model) isGraphOutput(v string) bool {
	for _, o := range m.Graph.Outputs {
		if o.Name == v {
			return true
		}
	}
	return false
}

// setConstant replaces the value of a float32 Constant node, keeping the attribute's form.
func (m *Model) setConstant(n *Node, data []float32) error {
	if n == nil || n.OpType != "Constant" {
		return fmt.Errorf("onnximport: set constant: no Constant node")
	}
	for _, a := range n.Proto.Attribute {
		switch a.GetName() {
		case "value":
			old := a.GetT()
			t := NewFloatTensor(old.GetName(), nil, append([]float32(nil), data...))
			for _, d := range old.GetDims() {
				t.Dims = append(t.Dims, int(d))
			}
			if t.Size() != len(data) {
				return fmt.Errorf("onnximport: %v: %d values for dims %v", n, len(data), t.Dims)
			}
			enc, err := t.Encode()
			if err != nil {
				return fmt.Errorf("onnximport: %v: %w", n, err)
			}
			enc.DocString = old.DocString
			a.T = enc
			n.Attrs["value"].T = t
			return nil
		case "value_floats":
			if len(a.GetFloats()) != len(data) {
				return fmt.Errorf("onnximport: %v: %d values, the node has %d", n, len(data), len(a.GetFloats()))
			}
			a.Floats = append([]float32(nil), data...)
			n.Attrs["value_floats"].Floats = a.Floats
			return nil
		case "value_float":
			if len(data) != 1 {
				return fmt.Errorf("onnximport: %v: %d values for a scalar", n, len(data))
			}
			a.F = ptr(data[0])
			n.Attrs["value_float"].F = data[0]
			return nil
		}
	}
	return fmt.Errorf("onnximport: %v holds no float value", n)
}
