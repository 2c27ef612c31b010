package onnximport

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestInferShapesFixtures(t *testing.T) {
	// Expected output shapes come from the fixture script (torch's outputs), not from this code.
	dir := filepath.Join("..", "testdata", "models")
	for _, c := range []struct {
		file string
		in   []int
		out  []int
	}{
		{"cnn-bn.onnx", []int{5, 1, 28, 28}, []int{5, 10}},
		{"mlp-ln-op13.onnx", []int{7, 784}, []int{7, 10}},
		{"mlp-ln-op17.onnx", []int{1, 784}, []int{1, 10}},
		{"vgg11-bn-tiny.onnx", []int{2, 1, 28, 28}, []int{2, 10}},
		{"wrn-16-1.onnx", []int{3, 1, 28, 28}, []int{3, 10}},
		{"resnet18-tiny.onnx", []int{2, 3, 32, 32}, []int{2, 10}},
	} {
		t.Run(c.file, func(t *testing.T) {
			m, err := Load(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			shapes, err := m.InferShapes(map[string][]int{"input": c.in}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := shapes["logits"]; !reflect.DeepEqual(got, c.out) {
				t.Fatalf("logits shape %v, want %v", got, c.out)
			}
		})
	}
}

func TestSpatialOut(t *testing.T) {
	// Hand-computed from the ONNX operator definitions (and the conformance cases they cite).
	node := func(attrs map[string]*Attr) *Node { return &Node{Attrs: attrs} }
	ints := func(v ...int64) *Attr { return &Attr{Ints: v} }
	for _, c := range []struct {
		name  string
		attrs map[string]*Attr
		in, k []int
		ceil  bool
		want  []int
	}{
		{"3x3 pad1", map[string]*Attr{"pads": ints(1, 1, 1, 1)}, []int{28, 28}, []int{3, 3}, false, []int{28, 28}},
		{"stride2 no pad", map[string]*Attr{"strides": ints(2, 2)}, []int{7, 5}, []int{3, 3}, false, []int{3, 2}},
		{"asymmetric pads", map[string]*Attr{"strides": ints(2, 2), "pads": ints(1, 0, 1, 0)}, []int{7, 5}, []int{3, 3}, false, []int{4, 2}},
		{"same upper", map[string]*Attr{"auto_pad": {S: "SAME_UPPER"}, "strides": ints(2, 2)}, []int{5, 5}, []int{3, 3}, false, []int{3, 3}},
		{"valid", map[string]*Attr{"auto_pad": {S: "VALID"}}, []int{32, 32}, []int{5, 5}, false, []int{28, 28}},
		{"dilation", map[string]*Attr{"dilations": ints(2, 2)}, []int{4, 4}, []int{2, 2}, false, []int{2, 2}},
		{"ceil", map[string]*Attr{"strides": ints(2, 2)}, []int{4, 4}, []int{3, 3}, true, []int{2, 2}},
		{"maxpool 2x2", map[string]*Attr{"strides": ints(2, 2)}, []int{7, 7}, []int{2, 2}, false, []int{3, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := SpatialOut(node(c.attrs), c.in, c.k, c.ceil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestBroadcastAndReshape(t *testing.T) {
	if got, err := Broadcast([]int{2, 1, 4}, []int{3, 1}); err != nil || !reflect.DeepEqual(got, []int{2, 3, 4}) {
		t.Errorf("Broadcast = %v, %v", got, err)
	}
	if _, err := Broadcast([]int{2, 3}, []int{4}); err == nil {
		t.Error("2×3 and 4 broadcast")
	}
	if got, err := ReshapeTarget([]int{2, 3, 4}, []int64{0, -1}, false); err != nil || !reflect.DeepEqual(got, []int{2, 12}) {
		t.Errorf("Reshape = %v, %v", got, err)
	}
	if _, err := ReshapeTarget([]int{2, 3}, []int64{4, 2}, false); err == nil {
		t.Error("Reshape 6 → 8 accepted")
	}
	if got, err := matMulShape([]int{2, 1, 3, 4}, []int{5, 4, 6}); err != nil || !reflect.DeepEqual(got, []int{2, 5, 3, 6}) {
		t.Errorf("MatMul = %v, %v", got, err)
	}
}

// knownShapes runs KnownShapes on a graph of the one node n (output "y"), whose inputs in are graph
// inputs declaring those shapes and whose consts are initializers.
func knownShapes(n *Node, in map[string][]int, consts map[string]*Tensor) map[string][]int {
	if n.Attrs == nil {
		n.Attrs = map[string]*Attr{}
	}
	if n.Outputs == nil {
		n.Outputs = []string{"y"}
	}
	if consts == nil {
		consts = map[string]*Tensor{}
	}
	g := &Graph{Nodes: []*Node{n}, Initializers: consts}
	for _, name := range n.Inputs {
		if s, ok := in[name]; ok {
			g.Inputs = append(g.Inputs, &Value{Name: name, Shape: s, HasShape: true})
		}
	}
	return (&Model{Graph: g, Opset: 13}).KnownShapes()
}

// TestKnownShapes checks shape inference with unknown (-1) dimensions and unknown shapes against
// shapes computed by hand from the ONNX operator definitions. want nil: the output shape is absent.
func TestKnownShapes(t *testing.T) {
	ints := func(name string, v ...int64) *Attr { return &Attr{Name: name, Ints: v} }
	one := func(name string, i int64) *Attr { return &Attr{Name: name, I: i} }
	shapeConst := func(v ...int64) map[string]*Tensor {
		return map[string]*Tensor{"s": NewIntTensor("s", []int{len(v)}, v)}
	}
	for _, tc := range []struct {
		name   string
		node   *Node
		in     map[string][]int
		consts map[string]*Tensor
		want   []int
	}{
		{"conv pad 1", &Node{OpType: "Conv", Inputs: []string{"x", "w"}, Attrs: map[string]*Attr{"pads": ints("pads", 1, 1, 1, 1)}},
			map[string][]int{"x": {-1, 1, 28, 28}, "w": {32, 1, 3, 3}}, nil, []int{-1, 32, 28, 28}},
		{"conv 7x7 stride 2 pad 3", &Node{OpType: "Conv", Inputs: []string{"x", "w"}, Attrs: map[string]*Attr{
			"pads": ints("pads", 3, 3, 3, 3), "strides": ints("strides", 2, 2)}},
			map[string][]int{"x": {2, 3, 32, 32}, "w": {8, 3, 7, 7}}, nil, []int{2, 8, 16, 16}},
		{"conv unknown spatial", &Node{OpType: "Conv", Inputs: []string{"x", "w"}},
			map[string][]int{"x": {-1, 1, -1, -1}, "w": {4, 1, 3, 3}}, nil, []int{-1, 4, -1, -1}},
		{"maxpool 3 stride 2 pad 1", &Node{OpType: "MaxPool", Inputs: []string{"x"}, Attrs: map[string]*Attr{
			"kernel_shape": ints("kernel_shape", 3, 3), "pads": ints("pads", 1, 1, 1, 1), "strides": ints("strides", 2, 2)}},
			map[string][]int{"x": {-1, 8, 16, 16}}, nil, []int{-1, 8, 8, 8}},
		{"avgpool ceil", &Node{OpType: "AveragePool", Inputs: []string{"x"}, Attrs: map[string]*Attr{
			"kernel_shape": ints("kernel_shape", 2, 2), "strides": ints("strides", 2, 2), "ceil_mode": one("ceil_mode", 1)}},
			map[string][]int{"x": {1, 4, 7, 7}}, nil, []int{1, 4, 4, 4}},
		{"maxpool stride 0", &Node{OpType: "MaxPool", Inputs: []string{"x"}, Attrs: map[string]*Attr{
			"kernel_shape": ints("kernel_shape", 2, 2), "strides": ints("strides", 0, 0)}},
			map[string][]int{"x": {1, 4, 7, 7}}, nil, nil},
		{"gemm transB", &Node{OpType: "Gemm", Inputs: []string{"a", "b"}, Attrs: map[string]*Attr{"transB": one("transB", 1)}},
			map[string][]int{"a": {-1, 784}, "b": {256, 784}}, nil, []int{-1, 256}},
		{"gemm unknown inner", &Node{OpType: "Gemm", Inputs: []string{"a", "b"}},
			map[string][]int{"a": {4, -1}, "b": {6, 3}}, nil, []int{4, 3}},
		{"matmul broadcast", &Node{OpType: "MatMul", Inputs: []string{"a", "b"}},
			map[string][]int{"a": {10, 3}, "b": {-1, 3, 2}}, nil, []int{-1, 10, 2}},
		{"flatten", &Node{OpType: "Flatten", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 64, 7, 7}}, nil, []int{-1, 3136}},
		{"broadcast add", &Node{OpType: "Add", Inputs: []string{"a", "b"}}, map[string][]int{"a": {-1, 8, 4, 4}, "b": {8, 1, 1}}, nil, []int{-1, 8, 4, 4}},
		{"reducemean keepdims", &Node{OpType: "ReduceMean", Inputs: []string{"x"}, Attrs: map[string]*Attr{"axes": ints("axes", 1, 2, 3)}},
			map[string][]int{"x": {-1, 3, 32, 32}}, nil, []int{-1, 1, 1, 1}},
		{"transpose", &Node{OpType: "Transpose", Inputs: []string{"x"}, Attrs: map[string]*Attr{"perm": ints("perm", 0, 2, 3, 1)}},
			map[string][]int{"x": {-1, 3, 5, 7}}, nil, []int{-1, 5, 7, 3}},
		{"global average pool", &Node{OpType: "GlobalAveragePool", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 64, 2, 2}}, nil, []int{-1, 64, 1, 1}},
		{"global average pool of a vector", &Node{OpType: "GlobalAveragePool", Inputs: []string{"x"}}, map[string][]int{"x": {5}}, nil, nil},
		{"unknown input", &Node{OpType: "Relu", Inputs: []string{"x"}}, map[string][]int{}, nil, nil},
		{"no shape rule", &Node{OpType: "Pad", Inputs: []string{"x"}}, map[string][]int{"x": {1, 2}}, nil, nil},
		{"reshape copy and infer", &Node{OpType: "Reshape", Inputs: []string{"x", "s"}},
			map[string][]int{"x": {2, 3, 4}}, shapeConst(0, -1), []int{2, 12}},
		{"reshape copies an unknown dim", &Node{OpType: "Reshape", Inputs: []string{"x", "s"}},
			map[string][]int{"x": {-1, 64, 7, 7}}, shapeConst(0, -1), []int{-1, -1}},
		{"reshape unknown batch", &Node{OpType: "Reshape", Inputs: []string{"x", "s"}},
			map[string][]int{"x": {-1, 64, 7, 7}}, shapeConst(-1, 3136), []int{-1, 3136}},
		{"reshape of an unknown shape", &Node{OpType: "Reshape", Inputs: []string{"x", "s"}},
			map[string][]int{}, shapeConst(-1, 10), []int{-1, 10}},
		{"reshape copying from an unknown shape", &Node{OpType: "Reshape", Inputs: []string{"x", "s"}},
			map[string][]int{}, shapeConst(0, 10), nil},
		{"concat unknown", &Node{OpType: "Concat", Inputs: []string{"a", "b"}, Attrs: map[string]*Attr{"axis": one("axis", 1)}},
			map[string][]int{"a": {-1, 3}, "b": {-1, 5}}, nil, []int{-1, 8}},
		{"concat along unknown", &Node{OpType: "Concat", Inputs: []string{"a", "b"}},
			map[string][]int{"a": {-1, 3}, "b": {2, 3}}, nil, []int{-1, 3}},
		{"concat axis out of range", &Node{OpType: "Concat", Inputs: []string{"a", "b"}, Attrs: map[string]*Attr{"axis": one("axis", 2)}},
			map[string][]int{"a": {1, 3}, "b": {1, 3}}, nil, nil},
		{"sin", &Node{OpType: "Sin", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 1}}, nil, []int{-1, 1}},
		{"hard sigmoid", &Node{OpType: "HardSigmoid", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 16, 7, 7}}, nil, []int{-1, 16, 7, 7}},
		{"prelu keeps the input's shape", &Node{OpType: "PRelu", Inputs: []string{"x", "s"}}, map[string][]int{"x": {-1, 8, 4, 4}, "s": {8, 1, 1}}, nil, []int{-1, 8, 4, 4}},
		{"max of three broadcasts", &Node{OpType: "Max", Inputs: []string{"a", "b", "c"}},
			map[string][]int{"a": {-1, 1, 5}, "b": {4, 1}, "c": {1}}, nil, []int{-1, 4, 5}},
		{"where broadcasts", &Node{OpType: "Where", Inputs: []string{"c", "a", "b"}},
			map[string][]int{"c": {3, 1}, "a": {1, 4}, "b": {1}}, nil, []int{3, 4}},
		{"sum with an unknown input", &Node{OpType: "Sum", Inputs: []string{"a", "b"}}, map[string][]int{"a": {2, 3}}, nil, nil},
		{"reducemax without keepdims", &Node{OpType: "ReduceMax", Inputs: []string{"x"}, Attrs: map[string]*Attr{"axes": ints("axes", 2, 3), "keepdims": one("keepdims", 0)}},
			map[string][]int{"x": {-1, 3, 8, 8}}, nil, []int{-1, 3}},
		{"instance norm", &Node{OpType: "InstanceNormalization", Inputs: []string{"x", "s", "b"}},
			map[string][]int{"x": {-1, 4, 5, 5}, "s": {4}, "b": {4}}, nil, []int{-1, 4, 5, 5}},
		{"group norm", &Node{OpType: "GroupNormalization", Inputs: []string{"x", "s", "b"}},
			map[string][]int{"x": {-1, 4, 5, 5}, "s": {2}, "b": {2}}, nil, []int{-1, 4, 5, 5}},
		{"resize scales", &Node{OpType: "Resize", Inputs: []string{"x", "", "sc"}}, map[string][]int{"x": {-1, 3, 4, 4}},
			map[string]*Tensor{"sc": NewFloatTensor("sc", []int{4}, []float32{1, 1, 2, 2})}, []int{-1, 3, 8, 8}},
		{"resize sizes of the wrong rank", &Node{OpType: "Resize", Inputs: []string{"x", "", "", "sz"}}, map[string][]int{"x": {1, 3, 4, 4}},
			map[string]*Tensor{"sz": NewIntTensor("sz", []int{2}, []int64{8, 8})}, nil},
		{"grid sample", &Node{OpType: "GridSample", Inputs: []string{"x", "g"}},
			map[string][]int{"x": {-1, 1, 28, 28}, "g": {-1, 14, 14, 2}}, nil, []int{-1, 1, 14, 14}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := knownShapes(tc.node, tc.in, tc.consts)["y"]
			if tc.want == nil {
				if ok {
					t.Fatalf("got %v, want no shape", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKnownShapesModel(t *testing.T) {
	// cnn-bn declares input batch×1×28×28 and logits batch×10 (fixture script); the chain
	// conv 3×3 pad 1 → pool 2 → conv → pool 2 halves 28 twice: 32×28×28 before the first pool,
	// 64×14×14 before the second.
	m, err := Load(filepath.Join("..", "testdata", "models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	shapes := m.KnownShapes()
	if got, want := shapes["logits"], []int{-1, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("logits %v, want %v", got, want)
	}
	var bn [][]int
	for _, n := range m.Graph.Nodes {
		if n.OpType == "BatchNormalization" {
			bn = append(bn, shapes[n.Outputs[0]])
		}
	}
	if want := [][]int{{-1, 32, 28, 28}, {-1, 64, 14, 14}}; !reflect.DeepEqual(bn, want) {
		t.Errorf("batch norm outputs %v, want %v", bn, want)
	}
	if len(shapes) != len(m.Graph.Inputs)+len(m.Graph.Initializers)+len(m.Graph.Nodes) {
		t.Errorf("%d shapes for %d inputs, %d initializers and %d nodes", len(shapes), len(m.Graph.Inputs), len(m.Graph.Initializers), len(m.Graph.Nodes))
	}
}

func TestBroadcastUnknown(t *testing.T) {
	// An unknown dimension takes the other's size unless that is 1 or unknown.
	for _, tc := range []struct{ a, b, want []int }{
		{[]int{-1, 8}, []int{1, 8}, []int{-1, 8}},
		{[]int{-1}, []int{5}, []int{5}},
		{[]int{5}, []int{-1}, []int{5}},
		{[]int{-1}, []int{1}, []int{-1}},
		{[]int{1}, []int{-1}, []int{-1}},
		{[]int{-1, 3}, []int{-1, 1}, []int{-1, 3}},
		{[]int{2, 1, 4}, []int{-1, 1}, []int{2, -1, 4}},
	} {
		if got, err := Broadcast(tc.a, tc.b); err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Broadcast(%v, %v) = %v, %v; want %v", tc.a, tc.b, got, err, tc.want)
		}
	}
	if got, err := SpatialOut(&Node{}, []int{-1, 7}, []int{3, 3}, false); err != nil || !reflect.DeepEqual(got, []int{-1, 5}) {
		t.Errorf("SpatialOut with an unknown size = %v, %v", got, err)
	}
}

func TestInferShapesStrict(t *testing.T) {
	// InferShapes fails where KnownShapes leaves a shape out.
	g := &Graph{Nodes: []*Node{{OpType: "Pad", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}},
		Inputs: []*Value{{Name: "x", Shape: []int{-1, 2}, HasShape: true}}, Initializers: map[string]*Tensor{}}
	m := &Model{Graph: g, Opset: 13}
	if _, err := m.InferShapes(nil, 1); err == nil {
		t.Error("op without a shape rule: no error")
	}
	g.Inputs[0].HasShape = false
	if _, err := m.InferShapes(nil, 1); err == nil {
		t.Error("input without a declared shape: no error")
	}
}
