package onnximport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

func sp(s string) *string { return &s }

func vinfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: sp(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(1)), Shape: shape}}}}
}

// tinyModel is x → Relu → y at opset 13.
func tinyModel() *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   ptr(int64(7)),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: sp(""), Version: ptr(int64(13))}},
		Graph: &onnxpb.GraphProto{
			Name:   sp("tiny"),
			Node:   []*onnxpb.NodeProto{{Name: sp("relu"), OpType: sp("Relu"), Input: []string{"x"}, Output: []string{"y"}}},
			Input:  []*onnxpb.ValueInfoProto{vinfo("x", 2, 3)},
			Output: []*onnxpb.ValueInfoProto{vinfo("y", 2, 3)},
		},
	}
}

func mustMarshal(t *testing.T, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadModels(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("..", "testdata", "models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m *onnxpb.ModelProto)) []byte {
		m := tinyModel()
		f(m)
		return mustMarshal(t, m)
	}
	for _, c := range []struct {
		name string
		data []byte
		want []string // substrings the one-line error must contain
	}{
		{"empty file", nil, []string{"empty file", "not an ONNX model"}},
		{"truncated", fixture[:len(fixture)/2], []string{"not an ONNX model"}},
		{"text file", []byte("hello, this is not a model\n"), []string{"not an ONNX model"}},
		{"no graph", edit(func(m *onnxpb.ModelProto) { m.Graph = nil }), []string{"not an ONNX model", "no graph"}},
		{"unknown op", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[0].OpType = sp("FancyOp") }), []string{`node "relu"`, "FancyOp is not supported", "(model opset "}},
		{"custom domain", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[0].Domain = sp("com.microsoft") }), []string{`node "relu"`, `domain "com.microsoft"`}},
		{"opset too old", edit(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = ptr(int64(6)) }), []string{"opset 6 is not supported", "7–21"}},
		{"opset too new", edit(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Version = ptr(int64(30)) }), []string{"opset 30 is not supported"}},
		{"no default opset", edit(func(m *onnxpb.ModelProto) { m.OpsetImport[0].Domain = sp("ai.onnx.ml") }), []string{"no default-domain opset"}},
		{"IR version", edit(func(m *onnxpb.ModelProto) { m.IrVersion = ptr(int64(2)) }), []string{"IR version 2 is not supported"}},
		{"empty graph", edit(func(m *onnxpb.ModelProto) { m.Graph.Node = nil }), []string{`graph "tiny" is empty`}},
		{"dangling edge", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[0].Input = []string{"nowhere"} }), []string{`node "relu"`, `"nowhere"`, "dangling edge"}},
		{"cycle", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = []*onnxpb.NodeProto{
				{Name: sp("a"), OpType: sp("Add"), Input: []string{"x", "c"}, Output: []string{"b"}},
				{Name: sp("b"), OpType: sp("Relu"), Input: []string{"b"}, Output: []string{"c"}},
				{Name: sp("out"), OpType: sp("Relu"), Input: []string{"c"}, Output: []string{"y"}},
			}
		}), []string{"cycle"}},
		{"unsupported attribute", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[0].OpType = sp("Resize")
			m.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: sp("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("cubic")}}
		}), []string{`node "relu"`, `mode="cubic"`, "nearest"}},
		{"bilinear Resize", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node[0].OpType = sp("Resize")
			m.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: sp("mode"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("linear")}}
		}), []string{`node "relu"`, "Resize", `mode="linear"`, "nearest", "(model opset "}},
		{"op too new for opset", edit(func(m *onnxpb.ModelProto) { m.Graph.Node[0].OpType = sp("LayerNormalization") }), []string{"needs opset ≥ 17"}},
		{"external data", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = []*onnxpb.TensorProto{{Name: sp("w"), DataType: ptr(int32(1)), Dims: []int64{2},
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: sp("location"), Value: sp("w.bin")}}}}
		}), []string{`tensor "w"`, "external data"}},
		{"wrong element count", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Initializer = []*onnxpb.TensorProto{{Name: sp("w"), DataType: ptr(int32(1)), Dims: []int64{2, 2}, FloatData: []float32{1, 2, 3}}}
		}), []string{`tensor "w"`, "3 elements", "need 4"}},
		{"double producer", edit(func(m *onnxpb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, &onnxpb.NodeProto{Name: sp("again"), OpType: sp("Relu"), Input: []string{"x"}, Output: []string{"y"}})
		}), []string{`node "again"`, "also produced"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.onnx")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "onnximport: "+path+": ") {
				t.Errorf("error %q does not name the file", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadPermissiveListsAll(t *testing.T) {
	m := tinyModel()
	m.Graph.Node = []*onnxpb.NodeProto{
		{Name: sp("a"), OpType: sp("TopK"), Input: []string{"x"}, Output: []string{"h"}},
		{Name: sp("b"), OpType: sp("Relu"), Input: []string{"h"}, Output: []string{"h2"}},
		{Name: sp("c"), OpType: sp("LSTM"), Input: []string{"h2"}, Output: []string{"y"}},
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, mustMarshal(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPermissive(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Unsupported) != 2 || !strings.Contains(got.Unsupported[0].Error(), "TopK") || !strings.Contains(got.Unsupported[1].Error(), "LSTM") {
		t.Fatalf("unsupported = %v", got.Unsupported)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("strict load accepted an unsupported op")
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.onnx"))
	if err == nil || !strings.Contains(err.Error(), "absent.onnx") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

// TestParseFileNamesPath: ParseFile's errors name the file once, like Load's, and wrap ErrNotONNX.
func TestParseFileNamesPath(t *testing.T) {
	_, err := ParseFile("dir/model.onnx", []byte("not a protobuf \xff\xff"))
	if err == nil || !errors.Is(err, ErrNotONNX) || strings.Count(err.Error(), "dir/model.onnx") != 1 ||
		!strings.HasPrefix(err.Error(), "onnximport: dir/model.onnx: ") {
		t.Fatalf("err = %v", err)
	}
}
