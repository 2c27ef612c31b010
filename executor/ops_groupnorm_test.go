package executor

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// normCase is a one-node InstanceNormalization or GroupNormalization model: x is a graph input,
// scale and bias are learnable initializers with pseudo-random values.
type normCase struct {
	name   string
	op     string
	opset  int64
	x      []int
	params int // scale and bias elements
	attrs  []*onnxpb.AttributeProto
}

// normCases mirror the ONNX node tests (test_instancenorm_*, test_group_normalization_example and
// _epsilon, which the installed data predates) at opsets 18 and 21, plus other shapes.
var normCases = []normCase{
	{"instance example", "InstanceNormalization", 13, []int{1, 2, 1, 3}, 2, nil},
	{"instance epsilon", "InstanceNormalization", 13, []int{2, 3, 4, 5}, 3, []*onnxpb.AttributeProto{floatAttr("epsilon", 1e-2)}},
	{"instance 3-D", "InstanceNormalization", 11, []int{2, 4, 9}, 4, nil},
	{"group example opset 18", "GroupNormalization", 18, []int{3, 4, 2, 2}, 2, []*onnxpb.AttributeProto{intAttr("num_groups", 2)}},
	{"group epsilon opset 18", "GroupNormalization", 18, []int{3, 4, 2, 2}, 2, []*onnxpb.AttributeProto{intAttr("num_groups", 2), floatAttr("epsilon", 1e-2)}},
	{"group 6/3 3-D opset 18", "GroupNormalization", 18, []int{2, 6, 5}, 3, []*onnxpb.AttributeProto{intAttr("num_groups", 3)}},
	{"group example opset 21", "GroupNormalization", 21, []int{3, 4, 2, 2}, 4, []*onnxpb.AttributeProto{intAttr("num_groups", 2)}},
	{"group epsilon opset 21", "GroupNormalization", 21, []int{3, 4, 2, 2}, 4, []*onnxpb.AttributeProto{intAttr("num_groups", 2), floatAttr("epsilon", 1e-2), intAttr("stash_type", 1)}},
	{"group 8/4 5-D opset 21", "GroupNormalization", 21, []int{2, 8, 2, 3, 2}, 8, []*onnxpb.AttributeProto{intAttr("num_groups", 4)}},
	{"group 1 opset 21", "GroupNormalization", 21, []int{2, 3, 4, 4}, 3, []*onnxpb.AttributeProto{intAttr("num_groups", 1)}},
}

func (c normCase) model(t testing.TB, xAsParam bool) *onnximport.Model {
	x := fed("x", c.x)
	if xAsParam {
		x = p("x", 11, c.x...)
	}
	return oneNodeModel(t, c.opset, c.op, []testInput{
		x, pr("scale", 12, 0.5, 1.5, 0, c.params), pr("bias", 13, -0.5, 0.5, 0, c.params),
	}, c.attrs...)
}

// TestGroupNormalizationORT runs instance and group normalization nodes (opsets 11–21, per-group
// scale and bias at opset 18, per-channel at 21) through Build and compares them with onnxruntime.
func TestGroupNormalizationORT(t *testing.T) {
	orttest.Require(t)
	for _, c := range normCases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t, false)
			x := rnd(21, size(c.x), -3, 3, 0)
			net, err := Build(m, BuildOptions{InputShapes: map[string][]int{"x": c.x}})
			if err != nil {
				t.Fatal(err)
			}
			got, gotShape, err := netRun(net, "x", x, c.x)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s, err := ort.OpenBytes(b, c.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want, wantShape, err := ortRun(s, "x", x, c.x)
			if err != nil {
				t.Fatal(err)
			}
			if !shapesEqual(gotShape, wantShape) {
				t.Fatalf("shape %v, onnxruntime %v", gotShape, wantShape)
			}
			// The ONNX backend tests' tolerance.
			if d := testutil.Compare(got, want, confATol, confRTol); d.Bad > 0 {
				t.Errorf("%s", describe(d, got, want, wantShape))
			} else {
				t.Logf("max |diff| vs onnxruntime %.2g", d.MaxAbs)
			}
		})
	}
}

// TestGroupNormalizationGradients checks the gradients with respect to x, scale and bias of every
// normCases model against finite differences.
func TestGroupNormalizationGradients(t *testing.T) {
	for _, c := range normCases {
		t.Run(c.name, func(t *testing.T) {
			if n := checkGrads(t, c.model(t, true), gradCheck{}); n != size(c.x)+2*c.params {
				t.Errorf("checked %d gradient elements, want %d", n, size(c.x)+2*c.params)
			}
		})
	}
}

// TestGroupNormalizationBuildErrors: scale and bias shapes must follow the opset (per group at 18,
// per channel at 21), and num_groups must divide the channels.
func TestGroupNormalizationBuildErrors(t *testing.T) {
	gn := func(opset int64, channels, params, groups int) func(t *testing.T) *onnximport.Model {
		return func(t *testing.T) *onnximport.Model {
			return normCase{op: "GroupNormalization", opset: opset, x: []int{2, channels, 3}, params: params,
				attrs: []*onnxpb.AttributeProto{intAttr("num_groups", int64(groups))}}.model(t, false)
		}
	}
	for _, c := range []struct {
		name  string
		model func(t *testing.T) *onnximport.Model
		// shapes overrides the declared input shape (onnximport refuses a declared shape that
		// num_groups does not divide, so the executor's own check is reached this way).
		shapes map[string][]int
		want   string
	}{
		{"opset 18 per-channel scale", gn(18, 6, 6, 3), nil, "one per group"},
		{"opset 21 per-group scale", gn(21, 6, 3, 3), nil, "one per channel"},
		{"3 groups of 4 channels", gn(21, 6, 6, 3), map[string][]int{"x": {2, 4, 3}}, "does not divide"},
		{"instance norm scale of 2 for 3 channels", func(t *testing.T) *onnximport.Model {
			return normCase{op: "InstanceNormalization", opset: 13, x: []int{2, 3, 4}, params: 2}.model(t, false)
		}, nil, "want 3 elements"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(c.model(t), BuildOptions{InputShapes: c.shapes})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Build error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestGroupNormalizationConstantAffine: a constant scale of ones and bias of zeros (as PyTorch's
// GroupNorm export feeds InstanceNormalization) are dropped, leaving no params, and the output is
// the plain normalization.
func TestGroupNormalizationConstantAffine(t *testing.T) {
	m := graphModel(t, 13, []testInput{fed("x", []int{1, 2, 2})}, []*onnxpb.NodeProto{
		constNode(t, "ones", []int{2}, 1, 1),
		constNode(t, "zeros", []int{2}, 0, 0),
		nodeProto("InstanceNormalization", []string{"x", "ones", "zeros"}, []string{"y"}),
	}, "y")
	net, err := Build(m, BuildOptions{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(net.Params) != 0 {
		t.Errorf("params %v, want none", net.ParamNames)
	}
	for _, n := range net.Graph.AllNodes() {
		if s := n.Op(); s != nil && strings.Contains(fmt.Sprint(s), "GroupNorm{") && !strings.Contains(fmt.Sprint(s), "scale() bias()") {
			t.Errorf("the normalization op %v has affine inputs", s)
		}
	}
	out, err := net.Run(map[string]*tensor.Dense{"x": denseOf([]int{1, 2, 2}, []float64{1, 3, -2, 2})}, Noise{})
	if err != nil {
		t.Fatal(err)
	}
	// Each channel (a, b) normalises to (−1, 1) up to ε = 1e-5: (b−a)/2 / sqrt(((b−a)/2)² + ε).
	got := toFloat64(out[0])
	a, b := 1/math.Sqrt(1+1e-5), 2/math.Sqrt(4+1e-5)
	for i, want := range []float64{-a, a, -b, b} {
		if math.Abs(got[i]-want) > 1e-12 {
			t.Errorf("y[%d] = %.15g, want %.15g", i, got[i], want)
		}
	}
}
