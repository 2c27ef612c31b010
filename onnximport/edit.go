package onnximport

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// Editor rewrites a copy of a Model's protobuf: it adds nodes and initializers, rewires readers,
// edits metadata, and finally validates the result once (Model or Apply). The Model it was made
// from is unchanged until Apply, so a failed edit leaves nothing behind.
//
// The copy is deep except for the initializers' TensorProtos, which the copy's own initializer
// list shares with the source (a large model's weights are not copied for an edit): replace an
// entry of Proto().Graph.Initializer to change an initializer, never modify one in place.
//
// An Editor reserves every name the graph already uses, so each added node, value and initializer
// gets a unique name (a "_2", "_3", … suffix when the wanted one is taken). Added nodes are queued
// in front of all original nodes or right after one of them; the original order is kept, each
// original node followed by what was placed after it. Rewire makes the original nodes read a new
// value instead of an old one; nodes the Editor added are left as built.
type Editor struct {
	src *Model
	mp  *onnxpb.ModelProto
	// orig is mp's node list when the Editor was made: orig[n.Index] is the copy of src's node n.
	orig  []*onnxpb.NodeProto
	after map[int][]*onnxpb.NodeProto
	front []*onnxpb.NodeProto
	// removed holds the Index of every original node Remove dropped.
	removed map[int]bool
	// taken holds every node, value and initializer name in use.
	taken map[string]bool
	done  bool
}

// Edit returns an Editor of a copy of m's protobuf (deep, but for the initializers' TensorProtos:
// see Editor); m.Graph names what the copy holds.
func (m *Model) Edit() *Editor {
	mp := cloneSharingInitializers(m.Proto)
	e := &Editor{src: m, mp: mp, orig: mp.GetGraph().GetNode(), after: map[int][]*onnxpb.NodeProto{}, removed: map[int]bool{}, taken: map[string]bool{}}
	g := m.Graph
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

// cloneSharingInitializers returns a deep copy of mp whose main graph has its own initializer
// list holding mp's initializer TensorProtos themselves. mp is only read.
func cloneSharingInitializers(mp *onnxpb.ModelProto) *onnxpb.ModelProto {
	g := mp.GetGraph()
	if g == nil {
		return proto.Clone(mp).(*onnxpb.ModelProto)
	}
	// Shallow shells of the model and its graph without the initializers, cloned deeply.
	shell := shallowCopyExcept(mp, "graph").(*onnxpb.ModelProto)
	shell.Graph = shallowCopyExcept(g, "initializer").(*onnxpb.GraphProto)
	out := proto.Clone(shell).(*onnxpb.ModelProto)
	out.Graph.Initializer = append([]*onnxpb.TensorProto(nil), g.Initializer...)
	return out
}

// shallowCopyExcept returns a new message of m's type holding m's populated fields (sharing their
// values) and unknown fields, except the field named skip.
func shallowCopyExcept(m proto.Message, skip protoreflect.Name) proto.Message {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != skip {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(src.GetUnknown())
	return dst.Interface()
}

// Proto returns the protobuf being edited. Nodes and initializers the source graph names are
// reached through NodeProto; fields the Editor has no method for are edited here directly.
func (e *Editor) Proto() *onnxpb.ModelProto { return e.mp }

// NodeProto returns the edited copy of the source model's node n.
func (e *Editor) NodeProto(n *Node) *onnxpb.NodeProto { return e.orig[n.Index] }

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
func (e *Editor) Initializer(t *Tensor) (string, error) {
	t.Name = e.Unique(t.Name)
	tp, err := t.Encode()
	if err != nil {
		return "", fmt.Errorf("onnximport: initializer %s: %w", t.Name, err)
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
	if p := e.src.Graph.Producer[value]; p != nil {
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

// Remove drops the original node n; the nodes placed after it stay.
func (e *Editor) Remove(n *Node) { e.removed[n.Index] = true }

// SetMetadata sets (or adds) the metadata_props entry key, keeping the others in order.
func (e *Editor) SetMetadata(key, value string) { setMetadata(e.mp, key, value) }

// DeleteMetadata removes the metadata_props entries keys, where present.
func (e *Editor) DeleteMetadata(keys ...string) { deleteMetadata(e.mp, keys...) }

// ErrEdited is returned (wrapped) by Model and Apply when the Editor was already finished.
var ErrEdited = errors.New("onnximport: the Editor was already finished")

// Model writes the node list (the nodes placed in front, then each original node not removed
// followed by the nodes placed after it), validates the edited protobuf and returns it as a new Model with the
// source's Path. The source model is unchanged; the Editor is finished.
func (e *Editor) Model() (*Model, error) {
	if e.done {
		return nil, ErrEdited
	}
	e.done = true
	nodes := append([]*onnxpb.NodeProto{}, e.front...)
	for i, n := range e.orig {
		if !e.removed[i] {
			nodes = append(nodes, n)
		}
		nodes = append(nodes, e.after[i]...)
	}
	e.mp.Graph.Node = nodes
	m, err := FromProto(e.mp)
	if err != nil {
		return nil, err
	}
	m.Path = e.src.Path
	return m, nil
}

// Apply is Model, after which the source model holds the edited one. On error the source is
// unchanged.
func (e *Editor) Apply() error {
	m, err := e.Model()
	if err != nil {
		return err
	}
	e.src.Replace(m)
	return nil
}

// Replace makes m hold n (its protobuf, opset and graph view), keeping m's Path. n is not copied.
func (m *Model) Replace(n *Model) {
	path := m.Path
	*m = *n
	m.Path = path
}

// SortNodes writes the protobuf's node list in the graph view's topological order (producers
// before consumers, what the ONNX checker and viewers expect) and renumbers Node.Index to match.
// Nothing is decoded again.
func (m *Model) SortNodes() {
	nodes := make([]*onnxpb.NodeProto, len(m.Graph.Nodes))
	for i, n := range m.Graph.Nodes {
		nodes[i] = n.Proto
		n.Index = i
	}
	m.Proto.Graph.Node = nodes
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

// AttrTensor returns the tensor attribute name = t.
func AttrTensor(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// valueInfo declares a tensor value of type dt and static shape dims.
func valueInfo(name string, dt DType, dims []int) *onnxpb.ValueInfoProto {
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

func setMetadata(mp *onnxpb.ModelProto, key, value string) {
	for _, e := range mp.MetadataProps {
		if e.GetKey() == key {
			e.Value = proto.String(value)
			return
		}
	}
	mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

func deleteMetadata(mp *onnxpb.ModelProto, keys ...string) {
	out := mp.MetadataProps[:0]
	for _, e := range mp.MetadataProps {
		drop := false
		for _, k := range keys {
			drop = drop || e.GetKey() == k
		}
		if !drop {
			out = append(out, e)
		}
	}
	mp.MetadataProps = out
}
