package inject

import (
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// editor adds nodes and initializers to mp, a copy of m.Proto, reading the graph through m.
type editor struct {
	m  *onnximport.Model
	mp *onnxpb.ModelProto
	// orig is mp's original node list; added nodes are placed after an original node (after) or
	// before all of them (front) by finish.
	orig  []*onnxpb.NodeProto
	after map[int][]*onnxpb.NodeProto
	front []*onnxpb.NodeProto
	// taken holds every node, value and initializer name in use.
	taken map[string]bool
	// pending are the nodes added since the last take.
	pending []*onnxpb.NodeProto
	// err is the first error met while adding (reported by finish).
	err error
}

func newEditor(m *onnximport.Model, mp *onnxpb.ModelProto) *editor {
	ed := &editor{m: m, mp: mp, orig: mp.Graph.Node, after: map[int][]*onnxpb.NodeProto{}, taken: map[string]bool{}}
	for _, n := range m.Graph.Nodes {
		ed.taken[n.Name] = true
		for _, v := range append(append([]string{}, n.Inputs...), n.Outputs...) {
			ed.taken[v] = true
		}
	}
	for _, name := range m.Graph.InitializerNames {
		ed.taken[name] = true
	}
	for _, v := range m.Graph.Inputs {
		ed.taken[v.Name] = true
	}
	return ed
}

// unique returns name, or name with a numeric suffix when it is taken, and reserves it.
func (ed *editor) unique(name string) string {
	u := name
	for i := 2; ed.taken[u]; i++ {
		u = fmt.Sprintf("%s_%d", name, i)
	}
	ed.taken[u] = true
	return u
}

// node adds a node whose single output value has the node's (unique) name, and returns that name.
func (ed *editor) node(name, op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	name = ed.unique(name)
	ed.pending = append(ed.pending, &onnxpb.NodeProto{
		Name: proto.String(name), OpType: proto.String(op),
		Input: inputs, Output: []string{name}, Attribute: attrs,
	})
	return name
}

// constant adds a Constant node holding t.
func (ed *editor) constant(name string, t *onnximport.Tensor) string {
	tp, err := t.Encode()
	if err != nil && ed.err == nil {
		ed.err = fmt.Errorf("constant %s: %w", name, err)
	}
	return ed.node(name, "Constant", nil, &onnxpb.AttributeProto{
		Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tp,
	})
}

// initializer adds a float32 initializer filled with v and returns its (unique) name.
func (ed *editor) initializer(name string, dims []int, v float32) string {
	name = ed.unique(name)
	data := make([]float32, prod(dims))
	for i := range data {
		data[i] = v
	}
	tp, err := onnximport.NewFloatTensor(name, dims, data).Encode()
	if err != nil {
		if ed.err == nil {
			ed.err = fmt.Errorf("initializer %s: %w", name, err)
		}
		return name
	}
	ed.mp.Graph.Initializer = append(ed.mp.Graph.Initializer, tp)
	if ed.mp.GetIrVersion() < 4 { // before IR 4 every initializer is also a graph input
		ed.mp.Graph.Input = append(ed.mp.Graph.Input, floatValueInfo(name, dims))
	}
	return name
}

// take returns the nodes added since the last take and their names.
func (ed *editor) take() ([]*onnxpb.NodeProto, []string) {
	nodes := ed.pending
	ed.pending = nil
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.GetName()
	}
	return nodes, names
}

// rewire makes every original node that read value "from" read value "to" instead.
func (ed *editor) rewire(from, to string) {
	for _, n := range ed.orig {
		for i, in := range n.Input {
			if in == from {
				n.Input[i] = to
			}
		}
	}
}

func (ed *editor) isGraphOutput(v string) bool {
	for _, o := range ed.m.Graph.Outputs {
		if o.Name == v {
			return true
		}
	}
	return false
}

// finish writes the node list: front nodes, then each original node followed by its additions.
// It returns the first error met while adding.
func (ed *editor) finish() error {
	if ed.err != nil {
		return ed.err
	}
	nodes := append([]*onnxpb.NodeProto{}, ed.front...)
	for i, n := range ed.orig {
		nodes = append(nodes, n)
		nodes = append(nodes, ed.after[i]...)
	}
	ed.mp.Graph.Node = nodes
	return nil
}

// addNoise inserts the noise subgraph after p and returns its reg.
func (ed *editor) addNoise(p *point, s *settings, shapes map[string][]int) (*Reg, error) {
	v := p.node.Outputs[0]
	if ed.isGraphOutput(v) {
		return nil, fmt.Errorf("%v: its output %q is a graph output, so noise there would make the model's output itself random; "+
			"leave it out with --skip", p.node, v)
	}
	dims := []int{1}
	if s.gran == Channel {
		var err error
		if dims, err = channelDims(ed.m.Graph, p, shapes); err != nil {
			return nil, err
		}
	}
	base := cleanName(p.node.Name)
	param := ed.initializer("xreg.noise."+base+".log_sigma", dims, float32(s.logSigma0))
	prefix := "xreg/noise/" + base
	eps := ed.node(prefix+"/eps", "RandomNormalLike", []string{v}, attrFloat("mean", 0), attrFloat("scale", 1))
	sigma := ed.node(prefix+"/sigma", "Exp", []string{param})
	noise := ed.node(prefix+"/sigma_eps", "Mul", []string{eps, sigma})
	if s.mode == Multiplicative {
		noise = ed.node(prefix+"/x_sigma_eps", "Mul", []string{v, noise})
	}
	out := ed.node(prefix+"/out", "Add", []string{v, noise})
	nodes, names := ed.take()
	ed.rewire(v, out)
	ed.after[p.node.Index] = append(ed.after[p.node.Index], nodes...)
	return &Reg{
		Name: param, Kind: KindNoise, Mode: s.mode, Granularity: s.gran,
		Point: p.node.Name, Op: p.op, Value: v, Output: out, Shape: clone(shapes[v]),
		Init: float64(float32(s.logSigma0)), Nodes: names,
	}, nil
}

// channelDims returns the shape of a per-channel log σ for p: [C, 1, …, 1] (channel axis 1) for
// batch, instance and group norm, the normalized trailing shape for layer norms.
func channelDims(g *onnximport.Graph, p *point, shapes map[string][]int) ([]int, error) {
	x := shapes[p.norm.Input(0)]
	if x == nil {
		x = shapes[p.node.Outputs[0]]
	}
	var dims []int
	switch p.op {
	case "BatchNormalization", "InstanceNormalization", "GroupNormalization":
		c := -1
		if len(x) >= 2 {
			c = x[1]
		}
		if t, ok := g.ConstValue(p.norm.Input(1)); ok && p.op != "GroupNormalization" && len(t.Dims) == 1 {
			c = t.Dims[0] // the scale has one value per channel
		}
		if x == nil || len(x) < 2 || c <= 0 {
			return nil, fmt.Errorf("%v: --granularity channel needs the rank and channel count of its input %q, which could not be inferred",
				p.norm, p.norm.Input(0))
		}
		dims = append([]int{c}, ones(len(x)-2)...)
	case "LayerNormalization":
		if t, ok := g.ConstValue(p.norm.Input(1)); ok && len(t.Dims) > 0 {
			return append([]int{}, t.Dims...), nil // Scale has the normalized shape
		}
		axis := int(p.norm.Int("axis", -1))
		if x != nil && axis < 0 {
			axis += len(x)
		}
		if x == nil || axis < 0 || axis >= len(x) {
			return nil, fmt.Errorf("%v: --granularity channel needs the shape of its input %q, which could not be inferred", p.norm, p.norm.Input(0))
		}
		dims = clone(x[axis:])
	default: // decomposed layer norm: the reduced axes must be trailing
		if x == nil {
			return nil, fmt.Errorf("%v: --granularity channel needs the shape of its input %q, which could not be inferred", p.norm, p.norm.Input(0))
		}
		r := len(x)
		seen := map[int]bool{}
		for _, a := range p.axes {
			if a < 0 {
				a += int64(r)
			}
			seen[int(a)] = true
		}
		first := r - len(p.axes)
		for i := first; i < r; i++ {
			if !seen[i] {
				return nil, fmt.Errorf("%v: --granularity channel supports layer norms over trailing axes; this one reduces axes %v of a rank-%d input",
					p.norm, p.axes, r)
			}
		}
		dims = clone(x[first:])
	}
	for _, d := range dims {
		if d <= 0 {
			return nil, fmt.Errorf("%v: --granularity channel needs static channel sizes; its input %q has shape %s",
				p.norm, p.norm.Input(0), formatShape(x))
		}
	}
	return dims, nil
}

func ones(n int) []int {
	out := make([]int, max(n, 0))
	for i := range out {
		out[i] = 1
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

// cleanName turns a node name into the readable part of a parameter name: "/block1/bn1/BatchNorm"
// becomes "block1.bn1.BatchNorm".
func cleanName(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "."), ".")
	if s == "" {
		return "node"
	}
	return s
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func floatValueInfo(name string, dims []int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)},
		})
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape},
		}},
	}
}
