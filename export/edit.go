package export

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// scores describes the graph output holding the class scores.
type scores struct {
	name string
	// producer is the node computing it.
	producer *onnximport.Node
	// probs is true when producer is a Softmax; logits is then its input.
	probs  bool
	logits string
}

// scoreOutput finds the output named name ("" for the only one) in the deterministic model.
func scoreOutput(det *onnximport.Model, name string) (*scores, error) {
	outs := det.Graph.Outputs
	var names []string
	for _, o := range outs {
		names = append(names, fmt.Sprintf("%q", o.Name))
	}
	if name == "" {
		if len(outs) != 1 {
			return nil, fmt.Errorf("the model has %d outputs (%s): name the one holding the class scores (--scores)",
				len(outs), strings.Join(names, ", "))
		}
		name = outs[0].Name
	}
	found := false
	for _, o := range outs {
		if o.Name == name {
			found = true
			if o.DType != 0 && o.DType != onnximport.Float32 {
				return nil, fmt.Errorf("output %q holds %v values; class scores must be float32", name, o.DType)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("the model has no output %q (outputs: %s)", name, strings.Join(names, ", "))
	}
	p := det.Graph.Producer[name]
	if p == nil {
		return nil, fmt.Errorf("output %q is not computed by any node", name)
	}
	s := &scores{name: name, producer: p}
	if p.OpType == "Softmax" {
		s.probs, s.logits = true, p.Input(0)
	}
	return s, nil
}

// editor adds nodes and initializers to a model proto whose current graph is det.
type editor struct {
	mp    *onnxpb.ModelProto
	det   *onnximport.Model
	taken map[string]bool
	// after holds the nodes to place after the original node of that index; front and back those
	// to place before and after all of them.
	after       map[int][]*onnxpb.NodeProto
	front, back []*onnxpb.NodeProto
}

func newEditor(mp *onnxpb.ModelProto, det *onnximport.Model) *editor {
	ed := &editor{mp: mp, det: det, taken: map[string]bool{}, after: map[int][]*onnxpb.NodeProto{}}
	g := det.Graph
	for _, n := range g.Nodes {
		ed.taken[n.Name] = true
		for _, v := range n.Inputs {
			ed.taken[v] = true
		}
		for _, v := range n.Outputs {
			ed.taken[v] = true
		}
	}
	for _, name := range g.InitializerNames {
		ed.taken[name] = true
	}
	for _, v := range g.Inputs {
		ed.taken[v.Name] = true
	}
	for _, v := range g.Outputs {
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

// node builds a node whose output value is named like the node (output, when given, names the
// value instead) and returns it.
func (ed *editor) node(name, op string, inputs []string, output string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	name = ed.unique(name)
	if output == "" {
		output = name
	}
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: inputs, Output: []string{output}, Attribute: attrs}
}

// initializer adds t as an initializer under a unique name based on t.Name and returns the name.
func (ed *editor) initializer(t *onnximport.Tensor) (string, error) {
	t.Name = ed.unique(t.Name)
	tp, err := t.Encode()
	if err != nil {
		return "", err
	}
	ed.mp.Graph.Initializer = append(ed.mp.Graph.Initializer, tp)
	if ed.mp.GetIrVersion() < 4 { // before IR 4 every initializer is also a graph input
		ed.mp.Graph.Input = append(ed.mp.Graph.Input, valueInfo(t.Name, t.DType, t.Dims))
	}
	return t.Name, nil
}

// placeAfter queues nodes to go right after the node producing value (or in front when a graph
// input produces it).
func (ed *editor) placeAfter(value string, nodes ...*onnxpb.NodeProto) {
	if p := ed.det.Graph.Producer[value]; p != nil {
		ed.after[p.Index] = append(ed.after[p.Index], nodes...)
		return
	}
	ed.front = append(ed.front, nodes...)
}

// rewire makes every original node that reads from read to instead.
func (ed *editor) rewire(from, to string) {
	for _, n := range ed.det.Graph.Consumers[from] {
		for i, in := range n.Proto.Input {
			if in == from {
				n.Proto.Input[i] = to
			}
		}
	}
}

// finish writes the node list: front nodes, each original node followed by the nodes placed after
// it, then back nodes.
func (ed *editor) finish() {
	orig := ed.mp.Graph.Node
	nodes := append([]*onnxpb.NodeProto{}, ed.front...)
	for i, n := range orig {
		nodes = append(nodes, n)
		nodes = append(nodes, ed.after[i]...)
	}
	ed.mp.Graph.Node = append(nodes, ed.back...)
}

// renameOutput makes the producer of graph output out write to a new internal value, which every
// other reader of out reads instead, and returns that value's name: a new node can then compute
// out itself.
func (ed *editor) renameOutput(s *scores, internal string) string {
	v := ed.unique(internal)
	ed.rewire(s.name, v)
	for i, o := range s.producer.Proto.Output {
		if o == s.name {
			s.producer.Proto.Output[i] = v
		}
	}
	for _, vi := range ed.mp.Graph.ValueInfo {
		if vi.GetName() == s.name {
			vi.Name = proto.String(v)
		}
	}
	return v
}

func valueInfo(name string, dt onnximport.DType, dims []int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)},
		})
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: shape},
		}},
	}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}
