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
