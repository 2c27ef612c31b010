package inject

import (
	"slices"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// graphOf builds a graph view by hand (onnximport does not load InstanceNormalization or
// GroupNormalization, which the executor does not support, but inject recognises them).
func graphOf(inits map[string]*onnximport.Tensor, nodes ...*onnximport.Node) *onnximport.Graph {
	g := &onnximport.Graph{Initializers: inits, Producer: map[string]*onnximport.Node{}, Consumers: map[string][]*onnximport.Node{}}
	for i, n := range nodes {
		n.Index = i
		if n.Attrs == nil {
			n.Attrs = map[string]*onnximport.Attr{}
		}
		g.Nodes = append(g.Nodes, n)
		for _, o := range n.Outputs {
			g.Producer[o] = n
		}
		for _, in := range n.Inputs {
			g.Consumers[in] = append(g.Consumers[in], n)
		}
	}
	return g
}

func TestFindInstanceAndGroupNorm(t *testing.T) {
	inits := map[string]*onnximport.Tensor{
		"s":  onnximport.NewFloatTensor("s", []int{4}, []float32{1, 1, 1, 1}),
		"b":  onnximport.NewFloatTensor("b", []int{4}, []float32{0, 0, 0, 0}),
		"gs": onnximport.NewFloatTensor("gs", []int{2}, []float32{1, 1}),
	}
	in := &onnximport.Node{Name: "in", OpType: "InstanceNormalization", Inputs: []string{"x", "s", "b"}, Outputs: []string{"a"}}
	relu := &onnximport.Node{Name: "relu", OpType: "Relu", Inputs: []string{"a"}, Outputs: []string{"r"}}
	gn := &onnximport.Node{Name: "gn", OpType: "GroupNormalization", Inputs: []string{"r", "gs", "gs"}, Outputs: []string{"y"}}
	g := graphOf(inits, in, relu, gn)
	points := findPoints(g)
	var got []string
	for _, p := range points {
		got = append(got, p.node.Name+":"+p.op)
	}
	if want := []string{"in:InstanceNormalization", "gn:GroupNormalization"}; !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	shapes := map[string][]int{"x": {-1, 4, 5, 5}, "a": {-1, 4, 5, 5}, "r": {-1, 4, 5, 5}}
	for _, p := range points {
		dims, err := channelDims(g, p, shapes)
		if err != nil {
			t.Fatal(err)
		}
		// Group norm's scale has one value per group (opset 18), so the channel count comes from the
		// input shape, not from the scale.
		if want := []int{4, 1, 1}; !slices.Equal(dims, want) {
			t.Errorf("%s: per-channel dims %v, want %v", p.node.Name, dims, want)
		}
	}
	if _, err := channelDims(g, points[1], map[string][]int{}); err == nil {
		t.Error("group norm with unknown input shape: no error")
	}
}

// TestInferShapes checks the static shape inference against shapes computed by hand from the ONNX
// operator definitions.
func TestInferShapes(t *testing.T) {
	attr := func(name string, ints ...int64) *onnximport.Attr { return &onnximport.Attr{Name: name, Ints: ints} }
	one := func(name string, i int64) *onnximport.Attr { return &onnximport.Attr{Name: name, I: i} }
	for _, tc := range []struct {
		name string
		node *onnximport.Node
		in   map[string][]int
		want []int
	}{
		{"conv pad 1", &onnximport.Node{OpType: "Conv", Inputs: []string{"x", "w"}, Attrs: map[string]*onnximport.Attr{"pads": attr("pads", 1, 1, 1, 1)}},
			map[string][]int{"x": {-1, 1, 28, 28}, "w": {32, 1, 3, 3}}, []int{-1, 32, 28, 28}},
		{"conv 7x7 stride 2 pad 3", &onnximport.Node{OpType: "Conv", Inputs: []string{"x", "w"}, Attrs: map[string]*onnximport.Attr{
			"pads": attr("pads", 3, 3, 3, 3), "strides": attr("strides", 2, 2)}},
			map[string][]int{"x": {2, 3, 32, 32}, "w": {8, 3, 7, 7}}, []int{2, 8, 16, 16}},
		{"maxpool 3 stride 2 pad 1", &onnximport.Node{OpType: "MaxPool", Inputs: []string{"x"}, Attrs: map[string]*onnximport.Attr{
			"kernel_shape": attr("kernel_shape", 3, 3), "pads": attr("pads", 1, 1, 1, 1), "strides": attr("strides", 2, 2)}},
			map[string][]int{"x": {-1, 8, 16, 16}}, []int{-1, 8, 8, 8}},
		{"avgpool ceil", &onnximport.Node{OpType: "AveragePool", Inputs: []string{"x"}, Attrs: map[string]*onnximport.Attr{
			"kernel_shape": attr("kernel_shape", 2, 2), "strides": attr("strides", 2, 2), "ceil_mode": one("ceil_mode", 1)}},
			map[string][]int{"x": {1, 4, 7, 7}}, []int{1, 4, 4, 4}},
		{"gemm transB", &onnximport.Node{OpType: "Gemm", Inputs: []string{"a", "b"}, Attrs: map[string]*onnximport.Attr{"transB": one("transB", 1)}},
			map[string][]int{"a": {-1, 784}, "b": {256, 784}}, []int{-1, 256}},
		{"matmul broadcast", &onnximport.Node{OpType: "MatMul", Inputs: []string{"a", "b"}},
			map[string][]int{"a": {10, 3}, "b": {-1, 3, 2}}, []int{-1, 10, 2}},
		{"flatten", &onnximport.Node{OpType: "Flatten", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 64, 7, 7}}, []int{-1, 3136}},
		{"broadcast add", &onnximport.Node{OpType: "Add", Inputs: []string{"a", "b"}}, map[string][]int{"a": {-1, 8, 4, 4}, "b": {8, 1, 1}}, []int{-1, 8, 4, 4}},
		{"reducemean keepdims", &onnximport.Node{OpType: "ReduceMean", Inputs: []string{"x"}, Attrs: map[string]*onnximport.Attr{"axes": attr("axes", 1, 2, 3)}},
			map[string][]int{"x": {-1, 3, 32, 32}}, []int{-1, 1, 1, 1}},
		{"transpose", &onnximport.Node{OpType: "Transpose", Inputs: []string{"x"}, Attrs: map[string]*onnximport.Attr{"perm": attr("perm", 0, 2, 3, 1)}},
			map[string][]int{"x": {-1, 3, 5, 7}}, []int{-1, 5, 7, 3}},
		{"global average pool", &onnximport.Node{OpType: "GlobalAveragePool", Inputs: []string{"x"}}, map[string][]int{"x": {-1, 64, 2, 2}}, []int{-1, 64, 1, 1}},
		{"unknown input", &onnximport.Node{OpType: "Relu", Inputs: []string{"x"}}, map[string][]int{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.node.Attrs == nil {
				tc.node.Attrs = map[string]*onnximport.Attr{}
			}
			g := graphOf(map[string]*onnximport.Tensor{})
			got := inferNode(g, tc.in, tc.node, 13)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Reshape with 0 (copy) and -1 (infer).
	if got, want := inferReshape([]int{2, 3, 4}, []int64{0, -1}, false), []int{2, 12}; !slices.Equal(got, want) {
		t.Errorf("reshape: got %v, want %v", got, want)
	}
}
