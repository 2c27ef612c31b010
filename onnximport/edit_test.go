package onnximport_test

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// chain returns the model x → Relu "a" → Sigmoid "b" → y (file order: b first, then a), IR ir.
func chain(t *testing.T, ir int64) *onnximport.Model {
	t.Helper()
	f32 := int32(onnxpb.TensorProto_FLOAT)
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32)}}}}
	}
	node := func(name, op, in, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: []string{in}, Output: []string{out}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(ir),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("chain"),
			Node:   []*onnxpb.NodeProto{node("b", "Sigmoid", "h", "y"), node("a", "Relu", "x", "h")},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	m, err := onnximport.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func names(nodes []*onnxpb.NodeProto) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.GetName())
	}
	return out
}

func TestUnique(t *testing.T) {
	m := chain(t, 8)
	e := m.Edit()
	for _, tc := range []struct{ name, want string }{
		{"new", "new"},
		{"new", "new_2"},
		{"new", "new_3"},
		{"a", "a_2"}, // a node name
		{"h", "h_2"}, // a value name
		{"x", "x_2"}, // a graph input
		{"y", "y_2"}, // a graph output
	} {
		if got := e.Unique(tc.name); got != tc.want {
			t.Errorf("Unique(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEdit(t *testing.T) {
	for _, tc := range []struct {
		ir        int64
		wantInput []string
	}{
		{8, []string{"x"}},
		{3, []string{"x", "scale"}}, // before IR 4 an initializer is also a graph input
	} {
		m := chain(t, tc.ir)
		src := proto.Clone(m.Proto)
		e := m.Edit()
		mp := e.Proto()
		scale, err := e.Initializer(onnximport.NewFloatTensor("scale", []int{1}, []float32{2}))
		if err != nil {
			t.Fatal(err)
		}
		// h → Mul(h, scale) placed after "a" (which produces h); x → Identity in front.
		mul := e.Node("a", "Mul", []string{"h", scale}, "", onnximport.AttrInt("unused", 1))
		e.Rewire("h", mul.GetOutput()[0])
		e.After("h", mul)
		id := e.Node("id", "Identity", []string{"x"}, "x_id")
		e.Rewire("x", "x_id")
		e.After("x", id) // no node produces a graph input: in front
		got, err := e.Model()
		if err != nil {
			t.Fatalf("IR %d: edited model does not validate: %v", tc.ir, err)
		}
		if !proto.Equal(m.Proto, src) {
			t.Errorf("IR %d: the source model changed", tc.ir)
		}
		if _, err := e.Model(); !errors.Is(err, onnximport.ErrEdited) {
			t.Errorf("IR %d: a second Model() returned %v, want ErrEdited", tc.ir, err)
		}

		if got, want := names(mp.Graph.Node), []string{"id", "b", "a", "a_2"}; !slices.Equal(got, want) {
			t.Errorf("IR %d: nodes %v, want %v", tc.ir, got, want)
		}
		// Original readers are rewired, added nodes keep their inputs.
		for _, c := range []struct {
			node string
			want []string
		}{{"b", []string{"a_2"}}, {"a", []string{"x_id"}}, {"a_2", []string{"h", "scale"}}, {"id", []string{"x"}}} {
			for _, n := range mp.Graph.Node {
				if n.GetName() == c.node && !slices.Equal(n.Input, c.want) {
					t.Errorf("IR %d: node %s reads %v, want %v", tc.ir, c.node, n.Input, c.want)
				}
			}
		}
		var inputs []string
		for _, v := range mp.Graph.Input {
			inputs = append(inputs, v.GetName())
		}
		if !slices.Equal(inputs, tc.wantInput) {
			t.Errorf("IR %d: graph inputs %v, want %v", tc.ir, inputs, tc.wantInput)
		}
		// The edited model validates and computes y = sigmoid(relu(x)·2) in that order.
		var ops []string
		for _, n := range got.Graph.Nodes {
			ops = append(ops, n.OpType)
		}
		if want := []string{"Identity", "Relu", "Mul", "Sigmoid"}; !slices.Equal(ops, want) {
			t.Errorf("IR %d: ops %v, want %v", tc.ir, ops, want)
		}
	}
}

func TestAttrs(t *testing.T) {
	for _, tc := range []struct {
		a    *onnxpb.AttributeProto
		name string
		typ  onnxpb.AttributeProto_AttributeType
		ok   func(*onnxpb.AttributeProto) bool
	}{
		{onnximport.AttrFloat("alpha", 0.5), "alpha", onnxpb.AttributeProto_FLOAT, func(a *onnxpb.AttributeProto) bool { return a.GetF() == 0.5 }},
		{onnximport.AttrInt("axis", -1), "axis", onnxpb.AttributeProto_INT, func(a *onnxpb.AttributeProto) bool { return a.GetI() == -1 }},
		{onnximport.AttrInts("axes", []int64{1, 2}), "axes", onnxpb.AttributeProto_INTS, func(a *onnxpb.AttributeProto) bool { return slices.Equal(a.GetInts(), []int64{1, 2}) }},
		{onnximport.AttrString("mode", "bilinear"), "mode", onnxpb.AttributeProto_STRING, func(a *onnxpb.AttributeProto) bool { return string(a.GetS()) == "bilinear" }},
	} {
		if tc.a.GetName() != tc.name || tc.a.GetType() != tc.typ || !tc.ok(tc.a) {
			t.Errorf("%s: got %v", tc.name, tc.a)
		}
	}
}

func TestMetadata(t *testing.T) {
	m := chain(t, 8)
	m.SetMetadata("a", "1")
	m.SetMetadata("b", "2")
	m.SetMetadata("a", "3")
	m.SetMetadata("c", "4")
	e := m.Edit()
	e.DeleteMetadata("b", "missing")
	e.SetMetadata("d", "5")
	got, err := e.Model()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    *onnximport.Model
		want []string
	}{{m, []string{"a=3", "b=2", "c=4"}}, {got, []string{"a=3", "c=4", "d=5"}}} {
		var kv []string
		for _, e := range tc.m.Proto.MetadataProps {
			kv = append(kv, e.GetKey()+"="+e.GetValue())
		}
		if !slices.Equal(kv, tc.want) {
			t.Errorf("metadata %v, want %v", kv, tc.want)
		}
	}
	if v, ok := got.Metadata("d"); !ok || v != "5" {
		t.Errorf("Metadata(d) = %q, %v", v, ok)
	}
}

func TestRemoveAndSort(t *testing.T) {
	m := chain(t, 8) // file order b (Sigmoid), a (Relu)
	m.SortNodes()
	if got := names(m.Proto.Graph.Node); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("sorted nodes %v, want [a b]", got)
	}
	for i, n := range m.Graph.Nodes {
		if n.Index != i || m.Proto.Graph.Node[i] != n.Proto {
			t.Errorf("node %s: Index %d, want %d", n.Name, n.Index, i)
		}
	}
	// Remove the Sigmoid: y is then produced by a Relu placed after "a".
	e := m.Edit()
	var b *onnximport.Node
	for _, n := range m.Graph.Nodes {
		if n.Name == "b" {
			b = n
		}
	}
	e.Remove(b)
	e.After("h", e.Node("r", "Relu", []string{"h"}, "y"))
	if err := e.Apply(); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		ops = append(ops, n.Name+":"+n.OpType)
	}
	if want := []string{"a:Relu", "r:Relu"}; !slices.Equal(ops, want) {
		t.Errorf("after Remove and Apply: %v, want %v", ops, want)
	}
}

// mulAdd returns the model y = x·w + b with initializers w = [1 2] and b = [3 4] (float_data) and
// an unknown field (number 1000, varint 7) on the model and on its graph.
func mulAdd(t *testing.T) *onnximport.Model {
	t.Helper()
	f32 := int32(onnxpb.TensorProto_FLOAT)
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32)}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{
				{Name: proto.String("m"), OpType: proto.String("Mul"), Input: []string{"x", "w"}, Output: []string{"h"}},
				{Name: proto.String("a"), OpType: proto.String("Add"), Input: []string{"h", "b"}, Output: []string{"y"}},
			},
			Initializer: []*onnxpb.TensorProto{floats("w", 1, 2), floats("b", 3, 4)},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	// An unknown field (number 1000, varint 7) on the model and on the graph.
	mp.ProtoReflect().SetUnknown(unknownField)
	mp.Graph.ProtoReflect().SetUnknown(unknownField)
	m, err := onnximport.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// floats returns a float32 initializer holding v in float_data.
func floats(name string, v ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{int64(len(v))}, FloatData: v}
}

// unknownField is the unknown field mulAdd sets.
var unknownField = []byte{0xc0, 0x3e, 7}

// TestEditSharesInitializers: an Editor's copy shares the source's initializer TensorProtos (no
// copy of the weights) but has its own list, so replacing or adding initializers in the copy leaves
// the source, its decoded values and its unknown fields as they were.
func TestEditSharesInitializers(t *testing.T) {
	m := mulAdd(t)
	before := proto.Clone(m.Proto)
	e := m.Edit()
	ep := e.Proto()
	if ep.Graph.Initializer[0] != m.Proto.Graph.Initializer[0] || ep.Graph.Initializer[1] != m.Proto.Graph.Initializer[1] {
		t.Error("the copy does not share the source's initializer TensorProtos")
	}
	if ep.Graph == m.Proto.Graph || ep.Graph.Node[0] == m.Proto.Graph.Node[0] {
		t.Error("the copy shares the graph or its nodes with the source")
	}
	ep.Graph.Initializer[0] = floats("w", 5, 6) // replace one, add one, rename a node
	if _, err := e.Initializer(onnximport.NewFloatTensor("c", []int{1}, []float32{9})); err != nil {
		t.Fatal(err)
	}
	ep.Graph.Node[1].Name = proto.String("a2")
	got, err := e.Model()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, before) {
		t.Error("the source protobuf changed")
	}
	for _, c := range []struct {
		m    *onnximport.Model
		name string
		want []float32
	}{{m, "w", []float32{1, 2}}, {m, "b", []float32{3, 4}}, {got, "w", []float32{5, 6}}, {got, "b", []float32{3, 4}}, {got, "c", []float32{9}}} {
		if v := c.m.Graph.Initializers[c.name]; v == nil || !slices.Equal(v.Float, c.want) {
			t.Errorf("initializer %s: %v, want %v", c.name, v, c.want)
		}
	}
	if len(m.Graph.Initializers) != 2 || len(m.Proto.Graph.Initializer) != 2 {
		t.Errorf("source has %d initializers (%d in the protobuf), want 2", len(m.Graph.Initializers), len(m.Proto.Graph.Initializer))
	}
	if !slices.Equal(got.Proto.ProtoReflect().GetUnknown(), unknownField) || !slices.Equal(got.Proto.Graph.ProtoReflect().GetUnknown(), unknownField) {
		t.Error("the copy lost the unknown fields of the model or the graph")
	}
}

// TestCloneSharesInitializers: a clone shares the initializers' TensorProtos, yet replacing an
// initializer in either model (SetInitializer, as xreg.WriteResult does) leaves the other's
// protobuf and decoded values as they were; the rest of the protobuf is a deep copy.
func TestCloneSharesInitializers(t *testing.T) {
	m := mulAdd(t)
	before := proto.Clone(m.Proto)
	c := m.Clone()
	if c.Proto.Graph.Initializer[0] != m.Proto.Graph.Initializer[0] {
		t.Error("the clone does not share the initializer TensorProtos")
	}
	if c.Proto.Graph == m.Proto.Graph || c.Proto.Graph.Node[0] == m.Proto.Graph.Node[0] {
		t.Error("the clone shares the graph or its nodes")
	}
	if err := c.SetInitializer(onnximport.NewFloatTensor("w", []int{2}, []float32{7, 8})); err != nil {
		t.Fatal(err)
	}
	c.Proto.Graph.Node[0].Name = proto.String("renamed")
	if !proto.Equal(m.Proto, before) {
		t.Error("changing the clone changed the source's protobuf")
	}
	if got := m.Graph.Initializers["w"].Float; !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("source w = %v, want [1 2]", got)
	}
	if err := m.SetInitializer(onnximport.NewFloatTensor("b", []int{2}, []float32{5, 6})); err != nil {
		t.Fatal(err)
	}
	// The clone, serialised and read back: its own w, the original b.
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := onnximport.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{"w": {7, 8}, "b": {3, 4}} {
		if got := back.Graph.Initializers[name].Float; !slices.Equal(got, want) {
			t.Errorf("clone after both edits: %s = %v, want %v", name, got, want)
		}
	}
	if !slices.Equal(back.Proto.ProtoReflect().GetUnknown(), unknownField) {
		t.Error("the clone lost the model's unknown field")
	}
}
