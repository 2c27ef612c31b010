package executor

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// This file holds test helpers that make small ONNX models in memory, for this package's tests
// (op forward tests, gradient checks). Usage:
//
//	m := oneNodeModel(t, 13, "Gemm",
//		[]testInput{param("A", []int{3, 4}, a), param("B", []int{4, 5}, b), fed("C", []int{5})},
//		intAttr("transB", 0))
//
// Inputs made with param become float initializers, hence learnable params of the net (so
// checkGrads can differentiate with respect to them); fed ones are graph inputs; intConst and
// floatConst are constant initializers (shapes, axes, exponents); absent is an omitted optional
// input.

// testInput is one input of a test model.
type testInput struct {
	Name  string
	Dims  []int
	Float []float32 // float data (params and float constants)
	Ints  []int64   // int64 data
	Kind  inputKind
	DType onnximport.DType // element type of an int constant (default int64)
}

type inputKind int

const (
	kindParam  inputKind = iota // float initializer: a learnable param
	kindFed                     // graph input
	kindConst                   // int64 (or float) initializer used as a build-time constant
	kindAbsent                  // omitted optional input ("")
)

func param(name string, dims []int, data []float32) testInput {
	return testInput{Name: name, Dims: dims, Float: data, Kind: kindParam}
}

// fed makes a graph input; a negative dimension is symbolic (the batch).
func fed(name string, dims []int) testInput { return testInput{Name: name, Dims: dims, Kind: kindFed} }

func intConst(name string, dims []int, data ...int64) testInput {
	return testInput{Name: name, Dims: dims, Ints: data, Kind: kindConst}
}

func floatConst(name string, dims []int, data ...float32) testInput {
	return testInput{Name: name, Dims: dims, Float: data, Kind: kindConst}
}

func absent() testInput { return testInput{Kind: kindAbsent} }

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func stringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// nodeProto makes a node of the default domain.
func nodeProto(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

// graphModel makes a validated model from nodes, their inputs and the graph output names (float,
// shape left to inference).
func graphModel(t testing.TB, opset int64, inputs []testInput, nodes []*onnxpb.NodeProto, outputs ...string) *onnximport.Model {
	t.Helper()
	m, err := graphModelErr(opset, inputs, nodes, outputs...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func graphModelErr(opset int64, inputs []testInput, nodes []*onnxpb.NodeProto, outputs ...string) (*onnximport.Model, error) {
	g := &onnxpb.GraphProto{Name: proto.String("test"), Node: nodes}
	for _, in := range inputs {
		switch in.Kind {
		case kindAbsent:
		case kindFed:
			g.Input = append(g.Input, valueInfo(in.Name, onnximport.Float32, in.Dims))
		default:
			var t *onnximport.Tensor
			if in.Ints != nil {
				t = onnximport.NewIntTensor(in.Name, in.Dims, in.Ints)
			} else {
				t = onnximport.NewFloatTensor(in.Name, in.Dims, in.Float)
			}
			p, err := t.Encode()
			if err != nil {
				return nil, err
			}
			if in.Ints != nil && in.DType != 0 && in.DType != onnximport.Int64 {
				p = encodeInts(in.Name, in.Dims, in.Ints, in.DType)
			}
			g.Initializer = append(g.Initializer, p)
		}
	}
	for _, name := range outputs {
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
			Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnximport.Float32))}}}})
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph:       g,
	}
	m, err := onnximport.FromProto(mp)
	if err != nil {
		return nil, fmt.Errorf("test model: %w", err)
	}
	return m, nil
}

// encodeInts encodes an int32/bool/uint8 initializer (int32_data).
func encodeInts(name string, dims []int, v []int64, dt onnximport.DType) *onnxpb.TensorProto {
	p := &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(dt))}
	for _, d := range dims {
		p.Dims = append(p.Dims, int64(d))
	}
	for _, x := range v {
		p.Int32Data = append(p.Int32Data, int32(x))
	}
	return p
}

func valueInfo(name string, dt onnximport.DType, dims []int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		if d < 0 { // a symbolic batch dimension
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
			continue
		}
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: shape}}}}
}

// oneNodeModel makes a model of one node whose output is "y".
func oneNodeModel(t testing.TB, opset int64, op string, inputs []testInput, attrs ...*onnxpb.AttributeProto) *onnximport.Model {
	t.Helper()
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	return graphModel(t, opset, inputs, []*onnxpb.NodeProto{nodeProto(op, names, []string{"y"}, attrs...)}, "y")
}

// denseOf makes a float64 tensor.
func denseOf(dims []int, data []float64) *tensor.Dense {
	if len(dims) == 0 {
		return tensor.New(tensor.FromScalar(data[0]))
	}
	return tensor.New(tensor.WithShape(dims...), tensor.WithBacking(append([]float64(nil), data...)))
}

// denseOf32 makes a float32 tensor.
func denseOf32(dims []int, data []float32) *tensor.Dense {
	if len(dims) == 0 {
		return tensor.New(tensor.FromScalar(data[0]))
	}
	return tensor.New(tensor.WithShape(dims...), tensor.WithBacking(append([]float32(nil), data...)))
}
