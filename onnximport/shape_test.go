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
