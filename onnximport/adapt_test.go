package onnximport

import (
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

func intsAttrP(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: sp(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func floatAttrP(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: sp(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// TestAdapters reads opset-9 nodes into the newest form: attributes that newer opsets take as
// inputs become synthesized constants, legacy attributes go, Upsample becomes Resize; the protobuf
// (what Marshal writes) is unchanged.
func TestAdapters(t *testing.T) {
	for _, c := range []struct {
		name   string
		opset  int64
		node   *onnxpb.NodeProto
		op     string          // op type of the view
		inputs map[int][]int64 // input index → synthesized integer constant
		floats map[int]float32 // input index → synthesized float scalar
		gone   []string        // attributes the view no longer has
	}{
		{"Unsqueeze axes", 11, &onnxpb.NodeProto{OpType: sp("Unsqueeze"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{intsAttrP("axes", 0)}},
			"Unsqueeze", map[int][]int64{1: {0}}, nil, []string{"axes"}},
		{"Slice starts ends axes", 9, &onnxpb.NodeProto{OpType: sp("Slice"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{intsAttrP("starts", 1), intsAttrP("ends", 2), intsAttrP("axes", 1)}},
			"Slice", map[int][]int64{1: {1}, 2: {2}, 3: {1}}, nil, []string{"starts", "ends", "axes"}},
		{"Pad pads value", 9, &onnxpb.NodeProto{OpType: sp("Pad"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{intsAttrP("pads", 0, 1, 0, 1), floatAttrP("value", 2)}},
			"Pad", map[int][]int64{1: {0, 1, 0, 1}}, map[int]float32{2: 2}, []string{"pads", "value"}},
		{"Clip min max", 9, &onnxpb.NodeProto{OpType: sp("Clip"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{floatAttrP("min", -1), floatAttrP("max", 6)}},
			"Clip", nil, map[int]float32{1: -1, 2: 6}, []string{"min", "max"}},
		{"ReduceMean axes", 13, &onnxpb.NodeProto{OpType: sp("ReduceMean"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{intsAttrP("axes", -1)}},
			"ReduceMean", map[int][]int64{1: {-1}}, nil, []string{"axes"}},
		{"Split split", 11, &onnxpb.NodeProto{OpType: sp("Split"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{intsAttrP("split", 1, 2)}},
			"Split", map[int][]int64{1: {1, 2}}, nil, []string{"split"}},
		{"Dropout ratio", 9, &onnxpb.NodeProto{OpType: sp("Dropout"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{floatAttrP("ratio", 0.5)}},
			"Dropout", nil, nil, []string{"ratio"}},
		{"Upsample scales attribute (opset 7)", 7, &onnxpb.NodeProto{OpType: sp("Upsample"), Input: []string{"x"}, Attribute: []*onnxpb.AttributeProto{{Name: sp("scales"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: []float32{1, 1, 2, 2}}}},
			"Resize", nil, nil, []string{"scales"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := tinyModel()
			m.OpsetImport[0].Version = ptr(c.opset)
			c.node.Name, c.node.Output = sp("n"), []string{"y"}
			m.Graph.Node = []*onnxpb.NodeProto{c.node}
			data := mustMarshal(t, m)
			got, err := LoadPermissive(writeTemp(t, data))
			if err != nil {
				t.Fatal(err)
			}
			n := got.Graph.Nodes[0]
			if n.OpType != c.op {
				t.Errorf("op %s, want %s", n.OpType, c.op)
			}
			for i, want := range c.inputs {
				v, ok := got.Graph.ConstValue(n.Input(i))
				if !ok || !slices.Equal(v.Ints(), want) {
					t.Errorf("input %d (%q) = %v, want %v", i, n.Input(i), v, want)
				}
			}
			for i, want := range c.floats {
				v, ok := got.Graph.ConstValue(n.Input(i))
				if !ok || len(v.Floats()) != 1 || v.Floats()[0] != want {
					t.Errorf("input %d (%q) = %v, want %v", i, n.Input(i), v, want)
				}
			}
			for _, a := range c.gone {
				if n.Has(a) {
					t.Errorf("the view still has attribute %s", a)
				}
			}
			out, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var back onnxpb.ModelProto
			if err := proto.Unmarshal(out, &back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&back, m) {
				t.Error("writing the model changed it: the adapters must only change the view")
			}
			if c.op == "Resize" {
				if sc, ok := got.Graph.ConstValue(n.Input(2)); !ok || len(sc.Floats()) != 4 || sc.Floats()[3] != 2 {
					t.Errorf("Resize scales %v", sc)
				}
			}
		})
	}
}

// TestAdapterRefusals: BatchNormalization with spatial=0 (per-element statistics) is listed as
// unsupported, naming the node.
func TestAdapterRefusals(t *testing.T) {
	m := tinyModel()
	m.OpsetImport[0].Version = ptr(int64(7))
	m.Graph.Node = []*onnxpb.NodeProto{{Name: sp("bn"), OpType: sp("BatchNormalization"), Input: []string{"x", "x", "x", "x", "x"}, Output: []string{"y"},
		Attribute: []*onnxpb.AttributeProto{{Name: sp("spatial"), Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(int64(0))}}}}
	got, err := LoadPermissive(writeTemp(t, mustMarshal(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Unsupported) != 1 || !strings.Contains(got.Unsupported[0].Error(), `node "bn"`) || !strings.Contains(got.Unsupported[0].Error(), "spatial=0") {
		t.Errorf("unsupported = %v", got.Unsupported)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/m.onnx"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
