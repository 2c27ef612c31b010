package onnximport

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: sp(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: sp(name), Type: onnxpb.AttributeProto_INT.Enum(), I: ptr(v)}
}

// convModel is x [1, 4, 8, 8] → Conv (weight w [8, 4/group, 3, 3]) → y, with the given attributes.
func convModel(group int64, attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	m := tinyModel()
	cin := 4 / max(group, 1)
	w := &onnxpb.TensorProto{Name: sp("w"), DataType: ptr(int32(1)), Dims: []int64{8, cin, 3, 3}, FloatData: make([]float32, 8*cin*9)}
	m.Graph.Initializer = []*onnxpb.TensorProto{w}
	m.Graph.Input = []*onnxpb.ValueInfoProto{vinfo("x", 1, 4, 8, 8)}
	m.Graph.Output = []*onnxpb.ValueInfoProto{vinfo("y")}
	m.Graph.Node = []*onnxpb.NodeProto{{Name: sp("conv"), OpType: sp("Conv"), Input: []string{"x", "w"}, Output: []string{"y"},
		Attribute: append([]*onnxpb.AttributeProto{intAttr("group", group)}, attrs...)}}
	return m
}

// poolModel is x [1, 4, 8, 8] → MaxPool → y.
func poolModel(attrs ...*onnxpb.AttributeProto) *onnxpb.ModelProto {
	m := convModel(1)
	m.Graph.Initializer = nil
	m.Graph.Node = []*onnxpb.NodeProto{{Name: sp("pool"), OpType: sp("MaxPool"), Input: []string{"x"}, Output: []string{"y"}, Attribute: attrs}}
	return m
}

// TestCraftedSizes: every size a file declares is checked against what it holds and against
// MaxTensorElements before anything is allocated (a crafted 1e12-element tensor used to ask for
// terabytes, dims [3, 2^62] panicked in makeslice, [2^32, 2^32] overflowed to 0 and was accepted),
// and every attribute the executor reads is range-checked. Each gives one line naming the tensor
// or node.
func TestCraftedSizes(t *testing.T) {
	big := int64(1_000_000)
	withInit := func(tp *onnxpb.TensorProto) []byte {
		m := tinyModel()
		m.Graph.Initializer = []*onnxpb.TensorProto{tp}
		return mustMarshal(t, m)
	}
	limit := fmt.Sprint(MaxTensorElements)
	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"unused double 1e6×1e6", withInit(&onnxpb.TensorProto{Name: sp("d"), DataType: ptr(int32(11)), Dims: []int64{big, big}}),
			[]string{`tensor "d"`, "[1000000 1000000]", limit}},
		{"unused int32 1e6×1e6", withInit(&onnxpb.TensorProto{Name: sp("i"), DataType: ptr(int32(6)), Dims: []int64{big, big}, Int32Data: []int32{1}}),
			[]string{`tensor "i"`, limit}},
		{"float16 1e6×1e6", withInit(&onnxpb.TensorProto{Name: sp("h"), DataType: ptr(int32(10)), Dims: []int64{big, big}}),
			[]string{`tensor "h"`, limit}},
		{"[3, 2^62] empty raw", withInit(&onnxpb.TensorProto{Name: sp("r"), DataType: ptr(int32(1)), Dims: []int64{3, 1 << 62}, RawData: []byte{}}),
			[]string{`tensor "r"`, limit}},
		{"[2^32, 2^32] overflows", withInit(&onnxpb.TensorProto{Name: sp("o"), DataType: ptr(int32(7)), Dims: []int64{1 << 32, 1 << 32}}),
			[]string{`tensor "o"`, "[4294967296 4294967296]", limit}},
		{"[2^32, 2^32, 2^32] wraps", withInit(&onnxpb.TensorProto{Name: sp("o"), DataType: ptr(int32(1)), Dims: []int64{1 << 32, 1 << 32, 1 << 32}, RawData: []byte{}}),
			[]string{`tensor "o"`, limit}},
		{"negative dim", withInit(&onnxpb.TensorProto{Name: sp("n"), DataType: ptr(int32(1)), Dims: []int64{-2, 3}}),
			[]string{`tensor "n"`, "negative dimension -2"}},
		{"raw not whole elements", withInit(&onnxpb.TensorProto{Name: sp("p"), DataType: ptr(int32(1)), Dims: []int64{2}, RawData: []byte{1, 2, 3, 4, 5}}),
			[]string{`tensor "p"`, "5 bytes"}},
		{"raw short", withInit(&onnxpb.TensorProto{Name: sp("p"), DataType: ptr(int32(11)), Dims: []int64{3}, RawData: make([]byte, 16)}),
			[]string{`tensor "p"`, "2 elements stored", "need 3"}},
		{"string tensor", withInit(&onnxpb.TensorProto{Name: sp("s"), DataType: ptr(int32(8)), Dims: []int64{1}}),
			[]string{`tensor "s"`, "STRING is not supported"}},
		{"too many dims", withInit(&onnxpb.TensorProto{Name: sp("k"), DataType: ptr(int32(1)), Dims: make([]int64, 40)}),
			[]string{`tensor "k"`, "40 dimensions"}},
		{"constant 1e6×1e6", func() []byte {
			m := tinyModel()
			m.Graph.Node = append([]*onnxpb.NodeProto{{Name: sp("c"), OpType: sp("Constant"), Output: []string{"unused"},
				Attribute: []*onnxpb.AttributeProto{{Name: sp("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
					T: &onnxpb.TensorProto{DataType: ptr(int32(11)), Dims: []int64{big, big}}}}}}, m.Graph.Node...)
			return mustMarshal(t, m)
		}(), []string{`node "c" (Constant)`, `attribute "value"`, limit}},
		{"sparse initializer 1e6×1e6", func() []byte {
			m := tinyModel()
			m.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{Dims: []int64{big, big},
				Values: &onnxpb.TensorProto{Name: sp("sp"), DataType: ptr(int32(1)), Dims: []int64{1}, FloatData: []float32{1}}}}
			return mustMarshal(t, m)
		}(), []string{"sparse", `"sp"`, limit}},
		{"sparse values lie", func() []byte {
			m := tinyModel()
			m.Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{Dims: []int64{4},
				Values: &onnxpb.TensorProto{Name: sp("sp"), DataType: ptr(int32(1)), Dims: []int64{big, big}}}}
			return mustMarshal(t, m)
		}(), []string{"sparse", `"sp"`, limit}},
		{"tensors attribute of an unsupported op", func() []byte {
			m := tinyModel()
			m.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: sp("ts"), Type: onnxpb.AttributeProto_TENSORS.Enum(),
				Tensors: []*onnxpb.TensorProto{{Name: sp("t"), DataType: ptr(int32(1)), Dims: []int64{big, big}}}}}
			return mustMarshal(t, m)
		}(), []string{`node "relu"`, `tensor "t"`, limit}},
		{"subgraph initializer", func() []byte {
			m := tinyModel()
			m.Graph.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: sp("body"), Type: onnxpb.AttributeProto_GRAPH.Enum(),
				G: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{{Name: sp("g"), DataType: ptr(int32(1)), Dims: []int64{big, big}}}}}}
			return mustMarshal(t, m)
		}(), []string{`node "relu"`, `tensor "g"`, limit}},

		{"Conv group 0", mustMarshal(t, convModel(0)), []string{`node "conv"`, "group=0"}},
		{"Conv group does not divide", mustMarshal(t, convModel(3)), []string{`node "conv"`, "group=3 does not divide"}},
		{"Conv dilation 0", mustMarshal(t, convModel(1, intsAttr("dilations", 0, 1))), []string{`node "conv"`, "dilations=[0 1]"}},
		{"Conv stride -1", mustMarshal(t, convModel(1, intsAttr("strides", -1, 1))), []string{`node "conv"`, "strides=[-1 1]"}},
		{"Conv negative pad", mustMarshal(t, convModel(1, intsAttr("pads", 0, -1, 0, 0))), []string{`node "conv"`, "pads=[0 -1 0 0]"}},
		{"Conv pads of the wrong length", mustMarshal(t, convModel(1, intsAttr("kernel_shape", 3, 3), intsAttr("pads", 1, 1))), []string{`node "conv"`, "pads=[1 1] has 2 values, want 4"}},
		{"Conv kernel_shape disagrees with weight", mustMarshal(t, convModel(1, intsAttr("kernel_shape", 5, 5))), []string{`node "conv"`, "kernel_shape=[5 5] does not fit"}},
		{"Conv huge dilation", mustMarshal(t, convModel(1, intsAttr("dilations", 1<<40, 1))), []string{`node "conv"`, "dilations"}},
		{"MaxPool kernel 0", mustMarshal(t, poolModel(intsAttr("kernel_shape", 0, 2))), []string{`node "pool"`, "kernel_shape=[0 2]"}},
		{"MaxPool no kernel", mustMarshal(t, poolModel()), []string{`node "pool"`, "kernel_shape is missing"}},
		{"MaxPool pad ≥ kernel", mustMarshal(t, poolModel(intsAttr("kernel_shape", 2, 2), intsAttr("pads", 2, 0, 0, 0))), []string{`node "pool"`, "smaller than the kernel"}},
		{"MaxPool kernel larger than input", mustMarshal(t, poolModel(intsAttr("kernel_shape", 9, 9))), []string{`node "pool"`, "too small"}},
		{"INT64 input", func() []byte {
			m := tinyModel()
			m.Graph.Input[0].Type.GetTensorType().ElemType = ptr(int32(7))
			return mustMarshal(t, m)
		}(), []string{`graph input "x"`, "INT64 cannot be fed"}},
		{"negative input dim", func() []byte {
			m := tinyModel()
			m.Graph.Input[0] = vinfo("x", 2, -3)
			return mustMarshal(t, m)
		}(), []string{`graph input "x"`, "negative"}},
		{"input 1e6×1e6", func() []byte {
			m := tinyModel()
			m.Graph.Input[0] = vinfo("x", big, big)
			return mustMarshal(t, m)
		}(), []string{`graph input`, `"x"`, limit}},
		{"inconsistent shapes", func() []byte {
			m := tinyModel()
			m.Graph.Initializer = []*onnxpb.TensorProto{{Name: sp("b"), DataType: ptr(int32(1)), Dims: []int64{4}, FloatData: make([]float32, 4)}}
			m.Graph.Node[0] = &onnxpb.NodeProto{Name: sp("add"), OpType: sp("Add"), Input: []string{"x", "b"}, Output: []string{"y"}}
			return mustMarshal(t, m)
		}(), []string{`node "add"`, "do not broadcast"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.onnx")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, load := range []func(string) (*Model, error){Load, LoadPermissive} {
				m, err := load(path)
				if err == nil && len(m.Unsupported) > 0 {
					err = m.Unsupported[0]
				}
				if err == nil {
					t.Fatal("accepted")
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") {
					t.Errorf("error spans lines: %q", msg)
				}
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("error %q lacks %q", msg, w)
					}
				}
			}
		})
	}
}

// TestEmptyTensorDims: a zero dimension makes an empty tensor whatever the others declare.
func TestEmptyTensorDims(t *testing.T) {
	got, err := DecodeTensor(&onnxpb.TensorProto{Name: sp("e"), DataType: ptr(int32(1)), Dims: []int64{0, 1 << 62}, RawData: []byte{}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Size() != 0 || len(got.Float) != 0 {
		t.Fatalf("size %d, %d values", got.Size(), len(got.Float))
	}
}
