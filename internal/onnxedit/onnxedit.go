package onnxedit

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Editor adds nodes and initializers to mp, a model whose graph g is (a copy of) mp's graph: g
// names the values in use and the node after which additions go (by Node.Index, mp's node order).
type Editor struct {
	mp *onnxpb.ModelProto
	g  *onnximport.Graph
	// orig is mp's node list when the Editor was made.
	orig  []*onnxpb.NodeProto
	after map[int][]*onnxpb.NodeProto
	front []*onnxpb.NodeProto
	// taken holds every node, value and initializer name in use.
	taken map[string]bool
}

// New returns an Editor of mp whose graph is g; every name g uses is reserved.
func New(mp *onnxpb.ModelProto, g *onnximport.Graph) *Editor {
	e := &Editor{mp: mp, g: g, orig: mp.GetGraph().GetNode(), after: map[int][]*onnxpb.NodeProto{}, taken: map[string]bool{}}
	for _, n := range g.Nodes {
		e.taken[n.Name] = true
		for _, v := range n.Inputs {
			e.taken[v] = true
		}
		for _, v := range n.Outputs {
			e.taken[v] = true
		}
	}
	for _, name := range g.InitializerNames {
		e.taken[name] = true
	}
	for _, v := range g.Inputs {
		e.taken[v.Name] = true
	}
	for _, v := range g.Outputs {
		e.taken[v.Name] = true
	}
	return e
}

// Unique returns name, or name with a numeric suffix ("name_2", …) when it is taken, and reserves
// it.
func (e *Editor) Unique(name string) string {
	u := name
	for i := 2; e.taken[u]; i++ {
		u = fmt.Sprintf("%s_%d", name, i)
	}
	e.taken[u] = true
	return u
}

// Node builds a node with a unique name based on name and one output value, named output or, when
// output is "", like the node. The node is not placed: see Front and After.
func (e *Editor) Node(name, op string, inputs []string, output string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	name = e.Unique(name)
	if output == "" {
		output = name
	}
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: inputs, Output: []string{output}, Attribute: attrs}
}

// Initializer renames t to a unique name based on t.Name, adds it as an initializer (and, before
// IR version 4, as a graph input) and returns the name.
func (e *Editor) Initializer(t *onnximport.Tensor) (string, error) {
	t.Name = e.Unique(t.Name)
	tp, err := t.Encode()
	if err != nil {
		return "", fmt.Errorf("onnxedit: initializer %s: %w", t.Name, err)
	}
	e.mp.Graph.Initializer = append(e.mp.Graph.Initializer, tp)
	if e.mp.GetIrVersion() < 4 { // before IR 4 every initializer is also a graph input
		e.mp.Graph.Input = append(e.mp.Graph.Input, valueInfo(t.Name, t.DType, t.Dims))
	}
	return t.Name, nil
}

// Front places nodes before all original nodes, after those placed there before.
func (e *Editor) Front(nodes ...*onnxpb.NodeProto) {
	e.front = append(e.front, nodes...)
}

// After places nodes right after the original node producing value (after the nodes placed there
// before), or in front when no node produces it (a graph input or initializer).
func (e *Editor) After(value string, nodes ...*onnxpb.NodeProto) {
	if p := e.g.Producer[value]; p != nil {
		e.after[p.Index] = append(e.after[p.Index], nodes...)
		return
	}
	e.Front(nodes...)
}

// Rewire makes every original node that reads value from read value to instead.
func (e *Editor) Rewire(from, to string) {
	for _, n := range e.orig {
		for i, in := range n.Input {
			if in == from {
				n.Input[i] = to
			}
		}
	}
}

// Finish writes mp's node list: the nodes placed in front, then each original node followed by
// the nodes placed after it.
func (e *Editor) Finish() {
	nodes := append([]*onnxpb.NodeProto{}, e.front...)
	for i, n := range e.orig {
		nodes = append(nodes, n)
		nodes = append(nodes, e.after[i]...)
	}
	e.mp.Graph.Node = nodes
}

// SetMetadata sets (or adds) the metadata_props entry key of mp, keeping the others in order.
func SetMetadata(mp *onnxpb.ModelProto, key, value string) {
	// onnximport.Model.SetMetadata reads and writes nothing but the proto.
	(&onnximport.Model{Proto: mp}).SetMetadata(key, value)
}

// AttrFloat returns the float attribute name = v.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// AttrInt returns the int attribute name = v.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// AttrInts returns the ints attribute name = v.
func AttrInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// AttrString returns the string attribute name = v.
func AttrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// valueInfo declares a tensor value of type dt and static shape dims.
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
