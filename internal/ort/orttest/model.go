package orttest

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// Value declares a graph input or output. A -1 dimension is dynamic (dim_param "N").
type Value struct {
	Name  string
	Int64 bool // element type int64 instead of float32
	Shape []int64
}

// Init is a constant initializer; exactly one of Float32 and Int64 holds its data.
type Init struct {
	Name    string
	Shape   []int64
	Float32 []float32
	Int64   []int64
}

// Node is one operator of the default ONNX domain, with integer attributes only.
type Node struct {
	Op      string
	In, Out []string
	Ints    map[string]int64
}

// Build serialises a model (IR version 8, opset 13) made of the given graph inputs, outputs,
// initializers and nodes. It panics on a protobuf encoding failure, which only a bug can cause.
func Build(inputs, outputs []Value, inits []Init, nodes ...Node) []byte {
	g := &onnxpb.GraphProto{Name: proto.String("orttest")}
	for _, v := range inputs {
		g.Input = append(g.Input, valueInfo(v))
	}
	for _, v := range outputs {
		g.Output = append(g.Output, valueInfo(v))
	}
	for _, in := range inits {
		t := &onnxpb.TensorProto{Name: proto.String(in.Name), Dims: in.Shape}
		if in.Int64 != nil {
			t.DataType = proto.Int32(int32(onnxpb.TensorProto_INT64))
			t.Int64Data = in.Int64
		} else {
			t.DataType = proto.Int32(int32(onnxpb.TensorProto_FLOAT))
			t.FloatData = in.Float32
		}
		g.Initializer = append(g.Initializer, t)
	}
	for i, n := range nodes {
		np := &onnxpb.NodeProto{OpType: proto.String(n.Op), Name: proto.String(fmt.Sprintf("%s_%d", n.Op, i)), Input: n.In, Output: n.Out}
		for k, v := range n.Ints {
			np.Attribute = append(np.Attribute, &onnxpb.AttributeProto{
				Name: proto.String(k), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v),
			})
		}
		g.Node = append(g.Node, np)
	}
	m := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("orttest"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:        g,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("orttest: marshal model: %v", err))
	}
	return b
}

func valueInfo(v Value) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range v.Shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	elem := int32(onnxpb.TensorProto_FLOAT)
	if v.Int64 {
		elem = int32(onnxpb.TensorProto_INT64)
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(v.Name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem), Shape: shape},
		}},
	}
}

// Linear returns a classifier y = post(flatten(x)·W + B): input "x" float32 of shape
// [N, example...] with a dynamic batch N, W of shape [len(W), len(B)] where len(W) must be the
// product of example, and output "y" [N, len(B)]. post is "" (logits), "Relu" or "Softmax" (on the
// last axis).
func Linear(example []int64, w [][]float32, b []float32, post string) []byte {
	in := int64(len(w))
	out := int64(len(b))
	var flat []float32
	for _, row := range w {
		flat = append(flat, row...)
	}
	inits := []Init{{Name: "W", Shape: []int64{in, out}, Float32: flat}, {Name: "B", Shape: []int64{out}, Float32: b}}
	var nodes []Node
	x := "x"
	if len(example) != 1 {
		nodes = append(nodes, Node{Op: "Flatten", In: []string{"x"}, Out: []string{"flat"}, Ints: map[string]int64{"axis": 1}})
		x = "flat"
	}
	last := "y"
	if post != "" {
		last = "logits"
	}
	nodes = append(nodes,
		Node{Op: "MatMul", In: []string{x, "W"}, Out: []string{"xw"}},
		Node{Op: "Add", In: []string{"xw", "B"}, Out: []string{last}},
	)
	if post != "" {
		n := Node{Op: post, In: []string{last}, Out: []string{"y"}}
		if post == "Softmax" {
			n.Ints = map[string]int64{"axis": -1}
		}
		nodes = append(nodes, n)
	}
	return Build(
		[]Value{{Name: "x", Shape: append([]int64{-1}, example...)}},
		[]Value{{Name: "y", Shape: []int64{-1, out}}},
		inits, nodes...)
}
