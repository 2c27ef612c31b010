package executor

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The ops added for the model zoo (torchvision exports at opsets 9–17, paddle2onnx and tf2onnx
// graphs): each case runs against onnxruntime and through the finite-difference gradient check.

// zooOpCase is a model whose first graph input (or, for the gradient check, first param) is "x".
type zooOpCase struct {
	name  string
	x     []int
	lo    float64 // x is drawn from [lo, hi) away from 0 by away
	hi    float64
	away  float64
	model func(t testing.TB, x testInput) *onnximport.Model
	noORT string // why onnxruntime cannot run the case, if it cannot
}

func zooOne(opset int64, op string, rest []testInput, attrs ...*onnxpb.AttributeProto) func(testing.TB, testInput) *onnximport.Model {
	return func(t testing.TB, x testInput) *onnximport.Model {
		return oneNodeModel(t, opset, op, append([]testInput{x}, rest...), attrs...)
	}
}

func zooOpCases() []zooOpCase {
	x234 := []int{2, 3, 4}
	cs := []zooOpCase{
		{"Erf", x234, -2, 2, 0, zooOne(13, "Erf", nil), ""},
		{"Neg", x234, -2, 2, 0, zooOne(13, "Neg", nil), ""},
		{"Abs", x234, -2, 2, 0.05, zooOne(13, "Abs", nil), ""},
		{"Reciprocal", x234, -2, 2, 0.5, zooOne(13, "Reciprocal", nil), ""},
		{"Log", x234, 0.2, 3, 0, zooOne(13, "Log", nil), ""},
		{"Softplus", x234, -3, 3, 0, zooOne(13, "Softplus", nil), ""},
		{"Softsign", x234, -3, 3, 0.05, zooOne(13, "Softsign", nil), ""},
		{"LeakyRelu", x234, -3, 3, 0.05, zooOne(13, "LeakyRelu", nil, floatAttr("alpha", 0.1)), ""},
		{"Elu", x234, -3, 3, 0.05, zooOne(13, "Elu", nil, floatAttr("alpha", 1.5)), ""},
		{"Selu", x234, -3, 3, 0.05, zooOne(13, "Selu", nil), ""},
		{"HardSigmoid", x234, -4, 4, 0.05, zooOne(13, "HardSigmoid", nil, floatAttr("alpha", 0.3), floatAttr("beta", 0.4)), ""},
		{"HardSwish", x234, -5, 5, 0.05, zooOne(14, "HardSwish", nil), ""},
		{"PRelu per channel", []int{2, 3, 2, 2}, -3, 3, 0.05, zooOne(9, "PRelu", []testInput{p("s", 41, 3, 1, 1)}), ""},
		{"PRelu [C] slope (opset 7, paddle2onnx)", []int{2, 3, 2, 2}, -3, 3, 0.05, zooOne(7, "PRelu", []testInput{p("s", 41, 3)}),
			"onnxruntime broadcasts a [C] slope against the last axis"},
		{"Max of 3", []int{2, 3}, -2, 2, 0, zooOne(13, "Max", []testInput{p("a", 42, 3), p("b", 43, 2, 1)}), ""},
		{"Min of 2", []int{2, 3}, -2, 2, 0, zooOne(13, "Min", []testInput{p("a", 42, 1, 3)}), ""},
		{"Sum of 3", []int{2, 3}, -2, 2, 0, zooOne(13, "Sum", []testInput{p("a", 42, 3), p("b", 43, 2, 1)}), ""},
		{"Gather scalar index axis 1 (vit class token)", []int{2, 3, 4}, -2, 2, 0, zooOne(13, "Gather", []testInput{intConst("i", nil, 0)}, intAttr("axis", 1)), ""},
		{"Gather 2-D indices, negative", []int{4, 3}, -2, 2, 0, zooOne(13, "Gather", []testInput{intConst("i", []int{2, 2}, 2, -1, 0, 2)}), ""},
		{"Slice axes steps", []int{3, 6, 5}, -2, 2, 0, zooOne(13, "Slice", []testInput{intConst("s", []int{2}, 1, -1), intConst("e", []int{2}, 100, 0), intConst("a", []int{2}, 1, 2), intConst("st", []int{2}, 2, -2)}), ""},
		{"Slice opset 9 attributes", []int{3, 6}, -2, 2, 0, zooOne(9, "Slice", nil, intsAttr("starts", 1, 2), intsAttr("ends", 3, -1), intsAttr("axes", 0, 1)), ""},
		{"Expand", []int{3, 1}, -2, 2, 0, zooOne(13, "Expand", []testInput{intConst("s", []int{3}, 2, 1, 4)}), ""},
		{"Tile", []int{2, 3}, -2, 2, 0, zooOne(13, "Tile", []testInput{intConst("r", []int{2}, 2, 3)}), ""},
		{"Pad constant", []int{1, 2, 3, 3}, -2, 2, 0, zooOne(13, "Pad", []testInput{intConst("p", []int{8}, 0, 0, 1, 2, 0, 0, 2, 1), floatConst("v", nil, 0.5)}), ""},
		{"Pad reflect", []int{1, 2, 3, 4}, -2, 2, 0, zooOne(13, "Pad", []testInput{intConst("p", []int{8}, 0, 0, 2, 3, 0, 0, 1, 2)}, stringAttr("mode", "reflect")), ""},
		{"Pad edge opset 9 attributes", []int{1, 2, 3}, -2, 2, 0, zooOne(9, "Pad", nil, intsAttr("pads", 0, 1, 2, 0, 2, 1), stringAttr("mode", "edge")), ""},
		{"Squeeze", []int{2, 1, 3, 1}, -2, 2, 0, zooOne(13, "Squeeze", []testInput{intConst("a", []int{1}, -1)}), ""},
		{"Unsqueeze opset 11 attribute", []int{2, 3}, -2, 2, 0, zooOne(11, "Unsqueeze", nil, intsAttr("axes", 0, 3)), ""},
		{"ReduceSum keepdims 0", []int{2, 3, 4}, -2, 2, 0, zooOne(13, "ReduceSum", []testInput{intConst("a", []int{2}, 0, 2)}, intAttr("keepdims", 0)), ""},
		{"ReduceSum opset 11 attribute", []int{2, 3, 4}, -2, 2, 0, zooOne(11, "ReduceSum", nil, intsAttr("axes", 1)), ""},
		{"LRN size 3", []int{2, 5, 2, 3}, -2, 2, 0, zooOne(13, "LRN", nil, intAttr("size", 3), floatAttr("alpha", 0.3), floatAttr("beta", 0.75), floatAttr("bias", 1.5)), ""},
		{"LRN size 4 (asymmetric window)", []int{1, 6, 3}, -2, 2, 0, zooOne(13, "LRN", nil, intAttr("size", 4), floatAttr("alpha", 0.5), floatAttr("beta", 0.6)), "onnxruntime requires an odd size"},
		{"LRN size 5", []int{1, 6, 2, 2}, -2, 2, 0, zooOne(13, "LRN", nil, intAttr("size", 5), floatAttr("alpha", 0.4)), ""},
		{"Einsum bij,bjk->bik", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 45, 2, 4, 5)}, stringAttr("equation", "bij,bjk->bik")), ""},
		{"Einsum bhid,bhjd->bhij (attention)", []int{2, 2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("k", 46, 2, 2, 5, 4)}, stringAttr("equation", "bhid,bhjd->bhij")), ""},
		{"Einsum ij,kj->ik", []int{3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 47, 5, 4)}, stringAttr("equation", "ij,kj->ik")), ""},
		{"Einsum bn,anm->bam", []int{2, 3}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 48, 4, 3, 2)}, stringAttr("equation", "bn,anm->bam")), ""},
		{"Einsum ijk->kij", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", nil, stringAttr("equation", "ijk->kij")), ""},
		{"Einsum ...ij,...jk->...ik (ellipsis)", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 49, 2, 4, 5)}, stringAttr("equation", "...ij,...jk->...ik")), ""},
		{"Einsum ...ij,jk->...ik (ellipsis in one operand)", []int{2, 2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 50, 4, 5)}, stringAttr("equation", "...ij,jk->...ik")), ""},
		{"Einsum ij,jk (implicit output ik)", []int{3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 51, 4, 5)}, stringAttr("equation", "ij,jk")), ""},
		{"Einsum ba,ca (implicit output bc)", []int{3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 52, 5, 4)}, stringAttr("equation", "ba,ca")), ""},
		{"Einsum ijk->ki (j summed out)", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", nil, stringAttr("equation", "ijk->ki")), ""},
		{"Einsum bij,bjk->bi (k summed out of one operand)", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", []testInput{p("w", 53, 2, 4, 5)}, stringAttr("equation", "bij,bjk->bi")), ""},
		{"Einsum ...i->... (implicit sum, ellipsis)", []int{2, 3, 4}, -2, 2, 0, zooOne(12, "Einsum", nil, stringAttr("equation", "...i->...")), ""},
		{"ReduceMax axes 1", []int{2, 3, 4}, -2, 2, 0, zooOne(18, "ReduceMax", []testInput{intConst("a", []int{1}, 1)}), ""},
		{"ReduceMin opset 13 attribute keepdims 0", []int{2, 3, 4}, -2, 2, 0, zooOne(13, "ReduceMin", nil, intsAttr("axes", 0, 2), intAttr("keepdims", 0)), ""},
		{"ReduceMax all", []int{2, 3}, -2, 2, 0, zooOne(13, "ReduceMax", nil), ""},
		{"ReduceMean opset 13 attribute", []int{2, 3, 4}, -2, 2, 0, zooOne(13, "ReduceMean", nil, intsAttr("axes", -1)), ""},
		{"Cast float to float", x234, -2, 2, 0, zooOne(13, "Cast", nil, intAttr("to", int64(onnximport.Float32))), ""},
		{"Clip opset 9 attributes", x234, -2, 2, 0.05, zooOne(9, "Clip", nil, floatAttr("min", -0.5), floatAttr("max", 1)), ""},
		{"Split opset 11 attribute", []int{2, 5}, -2, 2, 0, func(t testing.TB, x testInput) *onnximport.Model {
			return graphModel(t, 11, []testInput{x}, []*onnxpb.NodeProto{
				nodeProto("Split", []string{"x"}, []string{"a", "b"}, intAttr("axis", 1), intsAttr("split", 2, 3)),
				nodeProto("Mul", []string{"a", "a"}, []string{"a2"}),
				nodeProto("Concat", []string{"b", "a2"}, []string{"y"}, intAttr("axis", 1)),
			}, "y")
		}, ""},
		{"ScatterND on build-time constants (swin's shifted-window mask)", []int{2, 4, 3}, -2, 2, 0, func(t testing.TB, x testInput) *onnximport.Model {
			v, err := onnximport.NewFloatTensor("", []int{1}, []float32{0.25}).Encode()
			if err != nil {
				t.Fatal(err)
			}
			value := &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: v}
			to := intAttr("to", int64(onnximport.Float32))
			return graphModel(t, 13, []testInput{x, intConst("shape", []int{2}, 4, 3),
				intConst("i1", []int{2, 1}, 1, -1), intConst("u1", []int{2, 3}, 1, 2, 3, 4, 5, 6),
				intConst("i2", []int{2, 2}, 0, 2, 2, 0), intConst("u2", []int{2}, -7, 8)}, []*onnxpb.NodeProto{
				nodeProto("ConstantOfShape", []string{"shape"}, []string{"d"}, value),
				nodeProto("Cast", []string{"u1"}, []string{"u1f"}, to),
				nodeProto("Cast", []string{"u2"}, []string{"u2f"}, to),
				nodeProto("ScatterND", []string{"d", "i1", "u1f"}, []string{"s1"}),
				nodeProto("ScatterND", []string{"s1", "i2", "u2f"}, []string{"s2"}),
				nodeProto("Add", []string{"x", "s2"}, []string{"y"}),
			}, "y")
		}, ""},
		{"Where, constant condition", []int{2, 3}, -2, 2, 0, func(t testing.TB, x testInput) *onnximport.Model {
			c := intConst("c", []int{3}, 1, 0, 1)
			c.DType = onnximport.Bool
			return graphModel(t, 13, []testInput{x, c, p("o", 44, 2, 1)}, []*onnxpb.NodeProto{
				nodeProto("Where", []string{"c", "x", "o"}, []string{"y"}),
			}, "y")
		}, ""},
	}
	// The shape subgraph torch writes for x.view(x.size(0), -1) and vit's class-token expand,
	// at opsets 9 (Unsqueeze axes attribute) and 13.
	for _, opset := range []int64{9, 13} {
		opset := opset
		cs = append(cs, zooOpCase{fmt.Sprintf("shape subgraph opset %d", opset), []int{2, 3, 2}, -2, 2, 0, func(t testing.TB, x testInput) *onnximport.Model {
			unsq := nodeProto("Unsqueeze", []string{"n", "ax0"}, []string{"n1"})
			unsqM := nodeProto("Unsqueeze", []string{"m", "ax0"}, []string{"m1"})
			slice := nodeProto("Slice", []string{"es2", "ax0", "m1"}, []string{"es3"})
			ins := []testInput{x, intConst("zero", nil, 0), intConst("minus1", []int{1}, -1), intConst("ax0", []int{1}, 0), intConst("two", nil, 2)}
			if opset < 13 {
				unsq = nodeProto("Unsqueeze", []string{"n"}, []string{"n1"}, intsAttr("axes", 0))
				unsqM = nodeProto("Unsqueeze", []string{"m"}, []string{"m1"}, intsAttr("axes", 0))
				slice = nodeProto("Slice", []string{"es2"}, []string{"es3"}, intsAttr("starts", 0), intsAttr("ends", 4))
				ins = ins[:4]
				ins = append(ins, intConst("two", nil, 2))
			}
			return graphModel(t, opset, ins, []*onnxpb.NodeProto{
				nodeProto("Shape", []string{"x"}, []string{"s"}),
				nodeProto("Gather", []string{"s", "zero"}, []string{"n"}, intAttr("axis", 0)),
				nodeProto("Cast", []string{"n"}, []string{"nf"}, intAttr("to", int64(onnximport.Float32))),
				nodeProto("Cast", []string{"nf"}, []string{"ni"}, intAttr("to", int64(onnximport.Int64))),
				nodeProto("Mul", []string{"ni", "two"}, []string{"m"}),
				unsq, unsqM,
				nodeProto("Concat", []string{"n1", "minus1"}, []string{"shape"}, intAttr("axis", 0)),
				nodeProto("Reshape", []string{"x", "shape"}, []string{"flat"}),
				nodeProto("Shape", []string{"flat"}, []string{"fs"}),
				nodeProto("Shape", []string{"fs"}, []string{"fss"}),
				nodeProto("ConstantOfShape", []string{"fss"}, []string{"ones"}, &onnxpb.AttributeProto{Name: strp("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
					T: mustEncodeTB(t, onnximport.NewIntTensor("", []int{1}, []int64{1}))}),
				nodeProto("Equal", []string{"ones", "minus1"}, []string{"eq"}),
				nodeProto("Where", []string{"eq", "ones", "fs"}, []string{"es"}),
				nodeProto("Concat", []string{"n1", "es"}, []string{"es2"}, intAttr("axis", 0)),
				slice,
				nodeProto("Expand", []string{"flat", "es3"}, []string{"y"}),
			}, "y")
		}, ""})
	}
	return cs
}

func mustEncodeTB(t testing.TB, x *onnximport.Tensor) *onnxpb.TensorProto {
	t.Helper()
	e, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestZooOpsORT runs each case's model through Build and onnxruntime.
func TestZooOpsORT(t *testing.T) {
	orttest.Require(t)
	for _, c := range zooOpCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.noORT != "" {
				t.Skip(c.noORT)
			}
			compareORT(t, c.model(t, fed("x", c.x)), "x", rnd(51, size(c.x), c.lo, c.hi, c.away), c.x, parityTol)
		})
	}
}

// TestZooOpsGradients checks every case's gradient with respect to x and its params.
func TestZooOpsGradients(t *testing.T) {
	for _, c := range zooOpCases() {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t, pr("x", 52, c.lo, c.hi, c.away, c.x...))
			if n := checkGrads(t, m, gradCheck{}); n < size(c.x) {
				t.Errorf("checked %d gradient elements, want at least the %d of x", n, size(c.x))
			}
		})
	}
}

// TestEinsumRefusals: the Einsum forms outside the supported ones are refused at build time with
// one line naming the node, the op and the equation.
func TestEinsumRefusals(t *testing.T) {
	for _, c := range []struct {
		eq   string
		x    []int
		rest []testInput
		want string
	}{
		{"ii->i", []int{3, 3}, nil, "a letter repeated in one term (a diagonal) is not supported"},
		{"ij,jk->ii", []int{3, 4}, []testInput{p("w", 54, 4, 3)}, "a letter repeated in one term (a diagonal) is not supported"},
		{"ij,jk,kl->il", []int{3, 4}, []testInput{p("w", 55, 4, 5), p("v", 56, 5, 2)}, "one or two operands are supported"},
		{"i.j->ij", []int{3, 4}, nil, "one ellipsis (...) at most, and no other dots"},
		{"ij->ik", []int{3, 4}, nil, "output letter k is in no operand"},
	} {
		t.Run(c.eq, func(t *testing.T) {
			m := oneNodeModel(t, 12, "Einsum", append([]testInput{fed("x", c.x)}, c.rest...), stringAttr("equation", c.eq))
			_, err := Build(m, BuildOptions{Batch: c.x[0]})
			if err == nil {
				t.Fatal("built")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, "(Einsum)") || !strings.Contains(msg, c.eq) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want one line naming the Einsum node, %q and %q", msg, c.eq, c.want)
			}
			t.Log(msg)
		})
	}
}
