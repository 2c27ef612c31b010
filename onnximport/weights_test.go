package onnximport

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// wModel builds a float model with input x [1, 4] from nodes and float32 initializers.
func wModel(t *testing.T, inits map[string][]float32, nodes ...*onnxpb.NodeProto) *Model {
	t.Helper()
	gp := &onnxpb.GraphProto{Name: proto.String("g"), Node: nodes,
		Input:  []*onnxpb.ValueInfoProto{valueInfo("x", Float32, []int{1, 4})},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}}}
	names := make([]string, 0, len(inits))
	for n := range inits {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		enc, err := NewFloatTensor(n, []int{len(inits[n])}, inits[n]).Encode()
		if err != nil {
			t.Fatal(err)
		}
		gp.Initializer = append(gp.Initializer, enc)
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: gp,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	m, err := FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wNode(op, name string, in []string, out string) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}}
}

func wConst(name, out string, v []float32) *onnxpb.NodeProto {
	enc, _ := NewFloatTensor("", []int{len(v)}, v).Encode()
	n := wNode("Constant", name, nil, out)
	n.Attribute = []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: enc}}
	return n
}

func wIntConst(name, out string, v []int64) *onnxpb.NodeProto {
	enc, _ := NewIntTensor("", []int{len(v)}, v).Encode()
	n := wNode("Constant", name, nil, out)
	n.Attribute = []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: enc}}
	return n
}

// TestWeights: where each weight of small graphs lives, and which weight slots cannot be trained.
func TestWeights(t *testing.T) {
	for _, c := range []struct {
		name    string
		model   func(t *testing.T) *Model
		opt     WeightOptions
		want    []string // name:store:root
		bad     []string // value names
		wantErr string
	}{
		{"initializer shared through Identity", func(t *testing.T) *Model {
			return wModel(t, map[string][]float32{"a": {1, 1, 1, 1}},
				wNode("Identity", "id", []string{"a"}, "b"),
				wNode("Mul", "m1", []string{"x", "a"}, "h"),
				wNode("Mul", "m2", []string{"h", "b"}, "y"))
		}, WeightOptions{}, []string{"a:initializer:a", "b:via Identity:a"}, nil, ""},
		{"Constant weight of MatMul and bias Add", func(t *testing.T) *Model {
			return wModel(t, nil,
				wConst("cw", "w", []float32{1, 2, 3, 4}),
				wIntConst("cs", "s", []int64{4, 1}),
				wConst("cb", "bias", []float32{0.5}),
				wNode("Reshape", "r", []string{"w", "s"}, "w2"),
				wNode("MatMul", "mm", []string{"x", "w2"}, "z"),
				wNode("Add", "add", []string{"z", "bias"}, "y"))
		}, WeightOptions{}, []string{"bias:Constant node:cb", "w:Constant node:cw"}, nil, ""},
		{"weight computed from constants", func(t *testing.T) *Model {
			return wModel(t, nil,
				wConst("c1", "p", []float32{1, 2, 3, 4}),
				wConst("c2", "q", []float32{2, 2, 2, 2}),
				wNode("Mul", "scale", []string{"p", "q"}, "w"),
				wNode("Mul", "act", []string{"x", "x"}, "h"),
				wNode("MatMul", "mm", []string{"h", "w"}, "y"))
		}, WeightOptions{}, nil, []string{"w"}, ""},
		{"weight computed from an initializer (swin's Gather of its bias table): the initializer trains", func(t *testing.T) *Model {
			return wModel(t, map[string][]float32{"table": {1, 2, 3, 4, 5}},
				wIntConst("ci", "idx", []int64{4, 0, 2, 1}),
				wNode("Gather", "gather", []string{"table", "idx"}, "bias"),
				wNode("Transpose", "tr", []string{"x"}, "xt"),
				wNode("MatMul", "mm", []string{"xt", "x"}, "z"),
				wNode("Add", "add", []string{"z", "bias"}, "y"))
		}, WeightOptions{}, []string{"table:initializer:table"}, nil, ""},
		{"decomposed layer norm's Constant scale and bias", func(t *testing.T) *Model {
			return wModel(t, nil,
				wNode("Sqrt", "sqrt", []string{"x"}, "s"),
				wNode("Div", "div", []string{"x", "s"}, "n"),
				wConst("cg", "gamma", []float32{1, 2, 3, 4}),
				wConst("cb", "beta", []float32{0, 1, 0, 1}),
				wNode("Mul", "scale", []string{"n", "gamma"}, "ns"),
				wNode("Add", "shift", []string{"ns", "beta"}, "y"))
		}, WeightOptions{}, []string{"beta:Constant node:cb", "gamma:Constant node:cg"}, nil, ""},
		{"activations only", func(t *testing.T) *Model {
			return wModel(t, nil, wNode("Transpose", "tr", []string{"x"}, "xt"), wNode("MatMul", "mm", []string{"x", "xt"}, "y"))
		}, WeightOptions{}, nil, nil, ""},
		{"selected Constant", func(t *testing.T) *Model {
			return wModel(t, nil, wConst("k", "c", []float32{3}), wNode("Mul", "m", []string{"x", "c"}, "y"))
		}, WeightOptions{Select: regexp.MustCompile(`^k$`)}, []string{"c:Constant node:k"}, nil, ""},
		{"selection matching nothing", func(t *testing.T) *Model {
			return wModel(t, nil, wConst("k", "c", []float32{3}), wNode("Mul", "m", []string{"x", "c"}, "y"))
		}, WeightOptions{Select: regexp.MustCompile(`nope`)}, nil, nil, `selects no initializer`},
		{"skipped nodes", func(t *testing.T) *Model {
			return wModel(t, nil, wConst("k", "c", []float32{1, 2, 3, 4}), wNode("MatMul", "xreg/mm", []string{"x", "c"}, "y"))
		}, WeightOptions{Skip: func(n *Node) bool { return strings.HasPrefix(n.Name, "xreg/") }}, nil, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t)
			ws, bad, err := m.Weights(c.opt)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ws {
				got = append(got, w.Name+":"+string(w.Store)+":"+w.Root)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("weights %v, want %v", got, c.want)
			}
			var gotBad []string
			for _, b := range bad {
				gotBad = append(gotBad, b.Value)
				if !strings.Contains(b.Error(), "cannot be trained") || !strings.Contains(b.Error(), `"scale" (Mul)`) {
					t.Errorf("error %q does not name the computing node", b.Error())
				}
			}
			if !slices.Equal(gotBad, c.bad) {
				t.Errorf("untrainable %v, want %v", gotBad, c.bad)
			}
		})
	}
}

// TestSetWeight: values go back where they live — a Constant in place, the sole root of an
// Identity in place, a shared root un-shared into a new initializer (the Identity reads it), an
// unchanged shared value left shared — and survive a save and reload.
func TestSetWeight(t *testing.T) {
	shared := func(t *testing.T) *Model {
		return wModel(t, map[string][]float32{"a": {1, 1, 1, 1}},
			wNode("Identity", "id", []string{"a"}, "b"),
			wNode("Mul", "m1", []string{"x", "a"}, "h"),
			wNode("Mul", "m2", []string{"h", "b"}, "y"))
	}
	for _, c := range []struct {
		name   string
		model  func(t *testing.T) *Model
		weight string
		data   []float32
		// check verifies the reloaded model.
		check func(t *testing.T, m *Model)
	}{
		{"shared root diverged", shared, "b", []float32{2, 3, 4, 5}, func(t *testing.T, m *Model) {
			if got := m.Graph.Initializers["a"].Float; !slices.Equal(got, []float32{1, 1, 1, 1}) {
				t.Errorf("root a = %v, want it unchanged", got)
			}
			id := m.Graph.Producer["b"]
			if id.Input(0) != "b.unshared" || !slices.Equal(m.Graph.Initializers["b.unshared"].Float, []float32{2, 3, 4, 5}) {
				t.Errorf("Identity reads %q = %v, want b.unshared = [2 3 4 5]", id.Input(0), m.Graph.Initializers[id.Input(0)])
			}
		}},
		{"shared root equal", shared, "b", []float32{1, 1, 1, 1}, func(t *testing.T, m *Model) {
			if id := m.Graph.Producer["b"]; id.Input(0) != "a" || len(m.Graph.Initializers) != 1 {
				t.Errorf("Identity reads %q with %d initializers, want a, 1", id.Input(0), len(m.Graph.Initializers))
			}
		}},
		{"sole root", func(t *testing.T) *Model {
			return wModel(t, map[string][]float32{"a": {1, 1, 1, 1}},
				wNode("Identity", "id", []string{"a"}, "b"),
				wNode("Mul", "m2", []string{"x", "b"}, "y"))
		}, "b", []float32{2, 3, 4, 5}, func(t *testing.T, m *Model) {
			if got := m.Graph.Initializers["a"].Float; !slices.Equal(got, []float32{2, 3, 4, 5}) || len(m.Graph.Initializers) != 1 {
				t.Errorf("root a = %v (%d initializers), want [2 3 4 5] in place", got, len(m.Graph.Initializers))
			}
		}},
		{"Constant", func(t *testing.T) *Model {
			return wModel(t, nil, wConst("k", "c", []float32{1, 2, 3, 4}), wNode("Mul", "m", []string{"x", "c"}, "y"))
		}, "c", []float32{5, 6, 7, 8}, func(t *testing.T, m *Model) {
			v, err := ConstantValue(m.Graph.Producer["c"])
			if err != nil || !slices.Equal(v.Float, []float32{5, 6, 7, 8}) || len(m.Graph.Initializers) != 0 {
				t.Errorf("Constant holds %v (%v), %d initializers; want [5 6 7 8] in place", v, err, len(m.Graph.Initializers))
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t)
			w, err := m.ResolveWeight(c.weight)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetWeight(w, c.data); err != nil {
				t.Fatal(err)
			}
			data, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, back)
			if got, err := back.ResolveWeight(c.weight); err != nil || !slices.Equal(got.Value.Floats(), c.data) {
				t.Errorf("weight %q reads back %v (%v), want %v", c.weight, got, err, c.data)
			}
		})
	}
}
