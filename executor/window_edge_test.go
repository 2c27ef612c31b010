package executor

import (
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// windowEdgeCase is a Conv or pooling node at the edge sizes: an input smaller than the kernel,
// pads as large as the input or larger, windows (or kernel columns) lying wholly in the padding.
type windowEdgeCase struct {
	name  string
	op    string
	x     []int // input shape
	w     []int // Conv weight shape (nil for pools)
	attrs []*onnxpb.AttributeProto
}

// emptyWindowMark ends the name of a MaxPool case with a window wholly in the padding: its output
// is the lowest float (as in onnxruntime), too large for a finite-difference check.
const emptyWindowMark = "(a window wholly in the padding)"

func (c windowEdgeCase) model(t testing.TB, xAsParam bool) *onnximport.Model {
	x := fed("x", c.x)
	if xAsParam {
		x = p("x", 31, c.x...)
	}
	ins := []testInput{x}
	if c.w != nil {
		ins = append(ins, p("w", 32, c.w...), p("b", 33, c.w[0]))
	}
	return oneNodeModel(t, 13, c.op, ins, c.attrs...)
}

func windowEdgeCases() []windowEdgeCase {
	ints := intsAttr
	cs := []windowEdgeCase{
		// convnext's 7×7 depthwise conv at 64×64 input meets a 2×2 map.
		{"Conv depthwise 7x7 pad3 on 2x2", "Conv", []int{2, 3, 2, 2}, []int{3, 1, 7, 7},
			[]*onnxpb.AttributeProto{ints("pads", 3, 3, 3, 3), intAttr("group", 3)}},
		// The direct depthwise weight gradient with strides and dilations (sw ≠ 1 path).
		{"Conv depthwise 3x3 stride2 dilation2 pad2 on 5x4", "Conv", []int{2, 4, 5, 4}, []int{4, 1, 3, 3},
			[]*onnxpb.AttributeProto{ints("pads", 2, 2, 2, 2), ints("strides", 2, 2), ints("dilations", 2, 2), intAttr("group", 4)}},
		{"Conv 3x3 pad2 on 1x1", "Conv", []int{1, 2, 1, 1}, []int{3, 2, 3, 3},
			[]*onnxpb.AttributeProto{ints("pads", 2, 2, 2, 2)}},
		{"Conv 5x5 stride2 pad3 on 2x3", "Conv", []int{2, 2, 2, 3}, []int{2, 2, 5, 5},
			[]*onnxpb.AttributeProto{ints("pads", 3, 3, 3, 3), ints("strides", 2, 2)}},
		{"Conv dilation2 3x3 pad2 on 1x2", "Conv", []int{1, 2, 1, 2}, []int{2, 2, 3, 3},
			[]*onnxpb.AttributeProto{ints("pads", 2, 2, 2, 2), ints("dilations", 2, 2)}},
		{"Conv asymmetric pads 0,4,3,0 on 2x2", "Conv", []int{1, 1, 2, 2}, []int{2, 1, 3, 3},
			[]*onnxpb.AttributeProto{ints("pads", 0, 4, 3, 0)}},
		// A patch of C·kh·kw ≥ 128 takes the im2row weight-gradient path.
		{"Conv long patches 7x7 pad3 on 2x2", "Conv", []int{1, 3, 2, 2}, []int{2, 3, 7, 7},
			[]*onnxpb.AttributeProto{ints("pads", 3, 3, 3, 3)}},
		{"Conv 1-D k5 pad4 on 2", "Conv", []int{2, 2, 2}, []int{3, 2, 5},
			[]*onnxpb.AttributeProto{ints("pads", 4, 4)}},
		{"Conv SAME_UPPER 7x7 on 1x1", "Conv", []int{1, 2, 1, 1}, []int{2, 2, 7, 7},
			[]*onnxpb.AttributeProto{stringAttr("auto_pad", "SAME_UPPER")}},
	}
	// onnxruntime requires pooling pads smaller than the kernel; a window can still lie wholly in
	// the padding through dilation.
	for _, op := range []string{"MaxPool", "AveragePool"} {
		cs = append(cs,
			windowEdgeCase{op + " 3x3 pad2 on 1x1", op, []int{2, 2, 1, 1}, nil,
				[]*onnxpb.AttributeProto{ints("kernel_shape", 3, 3), ints("pads", 2, 2, 2, 2)}},
			windowEdgeCase{op + " 5x5 stride2 pad4 on 2x2", op, []int{1, 2, 2, 2}, nil,
				[]*onnxpb.AttributeProto{ints("kernel_shape", 5, 5), ints("pads", 4, 4, 4, 4), ints("strides", 2, 2)}},
			windowEdgeCase{op + " 3x3 stride2 pad1 ceil on 2x2", op, []int{1, 2, 2, 2}, nil,
				[]*onnxpb.AttributeProto{ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1), ints("strides", 2, 2), intAttr("ceil_mode", 1)}},
			windowEdgeCase{op + " 1-D k4 pad3 on 2", op, []int{1, 3, 2}, nil,
				[]*onnxpb.AttributeProto{ints("kernel_shape", 4), ints("pads", 3, 3)}},
		)
	}
	cs = append(cs,
		// The 2×2, stride-2 fast path: a trailing odd row and column lie in no window.
		windowEdgeCase{"MaxPool 2x2 stride2 on 5x3", "MaxPool", []int{2, 3, 5, 3}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}},
		windowEdgeCase{"MaxPool 2x2 stride2 on 2x2", "MaxPool", []int{1, 2, 2, 2}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}},
		windowEdgeCase{"MaxPool dilation2 2x2 pad1 on 1x1 " + emptyWindowMark, "MaxPool", []int{1, 2, 1, 1}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 2, 2), ints("pads", 1, 1, 1, 1), ints("dilations", 2, 2)}},
		windowEdgeCase{"MaxPool dilation3 2x2 pad1 stride2 on 3x2 " + emptyWindowMark, "MaxPool", []int{1, 2, 3, 2}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 2, 2), ints("pads", 1, 1, 1, 1), ints("dilations", 3, 3), ints("strides", 2, 2)}},
		windowEdgeCase{"AveragePool count_include_pad 3x3 pad2 on 1x1", "AveragePool", []int{1, 2, 1, 1}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 3, 3), ints("pads", 2, 2, 2, 2), intAttr("count_include_pad", 1)}},
		windowEdgeCase{"AveragePool count_include_pad 5x5 stride2 pad4 on 2x2", "AveragePool", []int{1, 2, 2, 2}, nil,
			[]*onnxpb.AttributeProto{ints("kernel_shape", 5, 5), ints("pads", 4, 4, 4, 4), ints("strides", 2, 2), intAttr("count_include_pad", 1)}},
	)
	return cs
}

// TestWindowEdgesORT compares Conv, MaxPool and AveragePool at the edge sizes with onnxruntime.
func TestWindowEdgesORT(t *testing.T) {
	orttest.Require(t)
	for _, c := range windowEdgeCases() {
		t.Run(c.name, func(t *testing.T) {
			compareORT(t, c.model(t, false), "x", rnd(41, size(c.x), -3, 3, 0), c.x, parityTol)
		})
	}
}

// TestWindowEdgesGradients checks the gradients of the edge cases against finite differences.
func TestWindowEdgesGradients(t *testing.T) {
	for _, c := range windowEdgeCases() {
		if strings.HasSuffix(c.name, emptyWindowMark) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			want := size(c.x)
			if c.w != nil {
				want += size(c.w) + c.w[0]
			}
			if n := checkGrads(t, c.model(t, true), gradCheck{}); n != want {
				t.Errorf("checked %d gradient elements, want %d", n, want)
			}
		})
	}
}

// compareORT builds m for input name of the given shape, runs it on x and fails the test when its
// first output differs from onnxruntime's by more than tol (absolute) or in shape.
func compareORT(t *testing.T, m *onnximport.Model, name string, x []float32, shape []int, tol float64) {
	t.Helper()
	net, err := Build(m, BuildOptions{InputShapes: map[string][]int{name: shape}})
	if err != nil {
		t.Fatal(err)
	}
	got, gotShape, err := netRun(net, name, x, shape)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.OpenBytes(b, t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, wantShape, err := ortRun(s, name, x, shape)
	if err != nil {
		t.Fatal(err)
	}
	if !shapesEqual(gotShape, wantShape) {
		t.Fatalf("shape %v, onnxruntime %v", gotShape, wantShape)
	}
	if d := testutil.Compare(got, want, tol, 0); d.Bad > 0 {
		t.Errorf("%s (tolerance %g)", describe(d, got, want, wantShape), tol)
	} else {
		t.Logf("max |diff| vs onnxruntime %.2g", d.MaxAbs)
	}
}
