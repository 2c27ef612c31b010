package inject_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// tnode is one node of a tiny test model.
type tnode struct {
	op      string
	in, out []string
	attrs   []*onnxpb.AttributeProto
}

type tinit struct {
	name string
	dims []int
	data []float32
}

// tinyModel builds a model with float input "x" (a -1 dimension is dynamic) and output "y".
func tinyModel(t *testing.T, opset int64, input, output []int64, inits []tinit, nodes ...tnode) *onnximport.Model {
	t.Helper()
	g := &onnxpb.GraphProto{Name: proto.String("tiny"), Input: []*onnxpb.ValueInfoProto{floatInfo("x", input...)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("y", output...)}}
	for _, in := range inits {
		tp, err := onnximport.NewFloatTensor(in.name, in.dims, in.data).Encode()
		if err != nil {
			t.Fatal(err)
		}
		g.Initializer = append(g.Initializer, tp)
	}
	for i, n := range nodes {
		g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String(n.op + "_" + string(rune('a'+i))), OpType: proto.String(n.op),
			Input: n.in, Output: n.out, Attribute: n.attrs})
	}
	m, err := onnximport.FromProto(&onnxpb.ModelProto{IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ints(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// bnInits are the parameters of a 1-channel BatchNormalization "bn".
var bnInits = []tinit{{"s", []int{1}, []float32{1.2}}, {"b", []int{1}, []float32{0.1}}, {"mu", []int{1}, []float32{0.2}}, {"var", []int{1}, []float32{0.9}}}

func TestErrors(t *testing.T) {
	load := func(name string) func(t *testing.T) *onnximport.Model {
		return func(t *testing.T) *onnximport.Model {
			m, err := onnximport.Load("../testdata/models/" + name + ".onnx")
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	injected := func(t *testing.T) *onnximport.Model {
		m := load("cnn-bn")(t)
		if _, err := inject.Apply(m, inject.Options{}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	linear := func(t *testing.T) *onnximport.Model {
		return tinyModel(t, 13, []int64{-1, 1, 4, 4}, []int64{-1, 2}, []tinit{{"W", []int{2, 16}, fill(32, 0.1)}},
			tnode{op: "Flatten", in: []string{"x"}, out: []string{"f"}},
			tnode{op: "Gemm", in: []string{"f", "W"}, out: []string{"y"}, attrs: []*onnxpb.AttributeProto{{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}})
	}
	bnLast := func(t *testing.T) *onnximport.Model {
		return tinyModel(t, 13, []int64{-1, 1, 4, 4}, []int64{-1, 1, 4, 4}, bnInits,
			tnode{op: "BatchNormalization", in: []string{"x", "s", "b", "mu", "var"}, out: []string{"y"}})
	}
	softmax11 := func(t *testing.T) *onnximport.Model {
		return tinyModel(t, 11, []int64{-1, 1, 4, 4}, []int64{-1, 16}, bnInits,
			tnode{op: "BatchNormalization", in: []string{"x", "s", "b", "mu", "var"}, out: []string{"n"}},
			tnode{op: "Flatten", in: []string{"n"}, out: []string{"f"}},
			tnode{op: "Softmax", in: []string{"f"}, out: []string{"y"}})
	}
	for _, tc := range []struct {
		name  string
		model func(*testing.T) *onnximport.Model
		opt   inject.Options
		want  []string // substrings of the error
		is    error
	}{
		{"already injected", injected, inject.Options{}, []string{"cnn-bn.onnx", "already injected", "xreg.regs", "original model"}, inject.ErrInjected},
		{"no normalization", linear, inject.Options{}, []string{`model "tiny"`, "no normalization node", "BatchNormalization", "set Options.At to OP|REGEX", "only Options.Augment"}, nil},
		{"where selects none", load("cnn-bn"), inject.Options{Where: "^conv"}, []string{"cnn-bn.onnx", `Options.Where "^conv" / Options.Skip ""`, "none of its 2", "/bn1/BatchNormalization"}, nil},
		{"skip selects none", load("mlp-ln-op17"), inject.Options{Skip: "LayerNorm"}, []string{`Options.Skip "LayerNorm"`, "none of its 3"}, nil},
		{"augment non-image input", load("mlp-ln-op13"), inject.Options{Augment: []string{"rotate"}}, []string{"mlp-ln-op13.onnx", `Options.Augment "rotate": needs an image input`, "N×C×H×W", `input "input" has shape ?×784`}, nil},
		{"opset not raisable", softmax11, inject.Options{Augment: []string{"translate"}}, []string{`Options.Augment "translate": needs opset`, "opset 11", `"Softmax_c" (Softmax)`, "changed meaning at opset 13", "version_converter"}, nil},
		{"graph output", bnLast, inject.Options{}, []string{`Options.Skip ""`, `"BatchNormalization_a"`, "graph output"}, nil},
		{"bad mode", load("cnn-bn"), inject.Options{Mode: "gaussian"}, []string{`Options.Mode "gaussian"`, "additive or multiplicative"}, nil},
		{"bad granularity", load("cnn-bn"), inject.Options{Granularity: "pixel"}, []string{`Options.Granularity "pixel"`, "layer or channel"}, nil},
		{"bad sigma0", load("cnn-bn"), inject.Options{Sigma0: -1}, []string{"Options.Sigma0 -1", "positive"}, nil},
		{"bad augment", load("cnn-bn"), inject.Options{Augment: []string{"flip"}}, []string{`Options.Augment "flip"`, "translate, rotate, shear, scale"}, nil},
		{"augment twice", load("cnn-bn"), inject.Options{Augment: []string{"rotate", "rotate"}}, []string{`Options.Augment "rotate": is listed twice`}, nil},
		{"augment-init without augment", load("cnn-bn"), inject.Options{Augment: []string{"rotate"}, AugmentInit: map[string]float64{"scale": 0.1}}, []string{`Options.AugmentInit "scale": is not among the augmentations`}, nil},
		{"negative magnitude", load("cnn-bn"), inject.Options{Augment: []string{"rotate"}, AugmentInit: map[string]float64{"rotate": -5}}, []string{`Options.AugmentInit "rotate=-5"`, "≥ 0"}, nil},
		{"bad placement", load("cnn-bn"), inject.Options{Placement: "before"}, []string{`Options.Placement "before"`, "post-affine or pre-affine"}, nil},
		{"bad where", load("cnn-bn"), inject.Options{Where: "("}, []string{`Options.Where "("`, "missing closing )"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			before, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = inject.Apply(m, tc.opt)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "inject: ") {
				t.Errorf("error %q does not start with the package name", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
			after, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Error("the failed Apply changed the model")
			}
		})
	}
}

// TestDecomposedLayerNormAffine checks the decomposed layer-norm match on a hand-built graph with
// an affine Mul and Add (noise goes after the Add) and on near misses that are not layer norms.
func TestDecomposedLayerNormAffine(t *testing.T) {
	ln := func(exponent float32, divisor string, affine bool) []tnode {
		nodes := []tnode{
			{op: "ReduceMean", in: []string{"x"}, out: []string{"m"}, attrs: []*onnxpb.AttributeProto{ints("axes", -1)}},
			{op: "Sub", in: []string{"x", "m"}, out: []string{"d"}},
			{op: "Pow", in: []string{"d", "two"}, out: []string{"d2"}},
			{op: "ReduceMean", in: []string{"d2"}, out: []string{"v"}, attrs: []*onnxpb.AttributeProto{ints("axes", -1)}},
			{op: "Add", in: []string{"eps", "v"}, out: []string{"ve"}},
			{op: "Sqrt", in: []string{"ve"}, out: []string{"sd"}},
			{op: "Div", in: []string{"d", divisor}, out: []string{"n"}},
		}
		if affine {
			return append(nodes, tnode{op: "Mul", in: []string{"gamma", "n"}, out: []string{"g"}},
				tnode{op: "Add", in: []string{"g", "beta"}, out: []string{"a"}},
				tnode{op: "Relu", in: []string{"a"}, out: []string{"y"}})
		}
		return append(nodes, tnode{op: "Relu", in: []string{"n"}, out: []string{"y"}})
	}
	inits := func(exponent float32) []tinit {
		return []tinit{{"two", nil, []float32{exponent}}, {"eps", nil, []float32{1e-5}},
			{"gamma", []int{5}, []float32{1, 2, 3, 4, 5}}, {"beta", []int{5}, []float32{0.5, 0, -0.5, 1, 0}}}
	}
	for _, tc := range []struct {
		name      string
		exponent  float32
		divisor   string
		affine    bool
		wantPoint string // "" for no match
	}{
		{"affine", 2, "sd", true, "Add_i"},
		{"plain", 2, "sd", false, "Div_g"},
		{"cube is not a variance", 3, "sd", false, ""},
		{"divisor not a Sqrt", 2, "ve", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModel(t, 13, []int64{-1, 5}, []int64{-1, 5}, inits(tc.exponent), ln(tc.exponent, tc.divisor, tc.affine)...)
			rep, err := inject.Apply(m, inject.Options{Granularity: inject.Channel})
			if tc.wantPoint == "" {
				if err == nil || !strings.Contains(err.Error(), "no normalization node") {
					t.Fatalf("got %v, want the no-normalization error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Regs) != 1 || rep.Regs[0].Point != tc.wantPoint || rep.Regs[0].Op != "LayerNormalization(decomposed)" {
				t.Fatalf("regs %+v, want one decomposed layer norm at %s", rep.Regs, tc.wantPoint)
			}
			if d := m.Graph.Initializers[rep.Regs[0].Name].Dims; len(d) != 1 || d[0] != 5 {
				t.Errorf("channel log σ has dims %v, want [5]", d)
			}
			// With σ = 0 the model computes the layer norm it computed before (onnxruntime).
			orttest.Require(t)
			orig := tinyModel(t, 13, []int64{-1, 5}, []int64{-1, 5}, inits(tc.exponent), ln(tc.exponent, tc.divisor, tc.affine)...)
			x := []float32{1, -2, 3, 0.5, 4, 0, 1, 1, 2, -3}
			want := run(t, session(t, orig), x, []int64{2, 5})
			setRegs(t, m, rep.Regs, inject.KindNoise, float32(math.Inf(-1)))
			if d := testutil.MaxAbsDiff(t, run(t, session(t, m), x, []int64{2, 5}), want); d > 1e-6 {
				t.Errorf("σ = 0 changes the output by %g", d)
			}
		})
	}
}
