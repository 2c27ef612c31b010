package executor

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// augTestModel returns a tiny opset-13 classifier, input "x" N×1×6×6 → Flatten → Gemm → "logits"
// (3 classes), injected with all four augmentations, the augmented image added as a graph output.
func augTestModel(t *testing.T) (*onnximport.Model, []inject.Reg) {
	t.Helper()
	const h, w, classes = 6, 6, 3
	wdata := make([]float32, classes*h*w)
	for i := range wdata {
		wdata[i] = float32(math.Sin(float64(i)*1.7)) * 0.5
	}
	wt, err := onnximport.NewFloatTensor("W", []int{classes, h * w}, wdata).Encode()
	if err != nil {
		t.Fatal(err)
	}
	bt, err := onnximport.NewFloatTensor("B", []int{classes}, []float32{0.1, -0.2, 0.05}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		s := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
			if d < 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
			}
			s.Dim = append(s.Dim, dim)
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: s}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("augtest"),
			Input:       []*onnxpb.ValueInfoProto{vi("x", -1, 1, h, w)},
			Output:      []*onnxpb.ValueInfoProto{vi("logits", -1, classes)},
			Initializer: []*onnxpb.TensorProto{wt, bt},
			Node: []*onnxpb.NodeProto{
				{Name: proto.String("flat"), OpType: proto.String("Flatten"), Input: []string{"x"}, Output: []string{"f"}},
				{Name: proto.String("fc"), OpType: proto.String("Gemm"), Input: []string{"f", "W", "B"}, Output: []string{"logits"},
					Attribute: []*onnxpb.AttributeProto{{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}},
			},
		},
	}
	m, err := onnximport.FromProto(mp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{Augment: inject.AugmentKinds()}); err != nil {
		t.Fatal(err)
	}
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	m.Proto.Graph.Output = append(m.Proto.Graph.Output, vi(regs[0].Output, -1, 1, h, w))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	return m, regs
}

func setMagnitudes(t *testing.T, m *onnximport.Model, mags map[string]float32) {
	t.Helper()
	for kind, v := range mags {
		name := "xreg.augment." + kind + ".magnitude"
		if err := m.SetInitializer(onnximport.NewFloatTensor(name, []int{1}, []float32{v})); err != nil {
			t.Fatal(err)
		}
	}
}

// pinnedNoise gives each augmentation draw the same value for every sample of a batch of 2.
func pinnedNoise(net *Net, u map[string]float64) Noise {
	vals := map[string]*tensor.Dense{}
	for _, in := range net.Noise {
		v := u[in.Name]
		vals[in.Name] = tensor.New(tensor.WithShape(2, 1), tensor.WithBacking([]float64{v, -0.6 * v}))
	}
	return Noise{Values: vals}
}

func augImage() []float64 {
	img := make([]float64, 2*36)
	for i := range img {
		img[i] = float64((i*37)%23) / 23
	}
	return img
}

// TestAugmentRotate90 checks the Gorgonia forward pass of the augmentation against a hand-computed
// image: rotating a 6×6 image by exactly 90° (magnitude 90, u = 1, other magnitudes 0) maps output
// pixel (i, j) to input pixel (j, 5−i).
func TestAugmentRotate90(t *testing.T) {
	m, _ := augTestModel(t)
	setMagnitudes(t, m, map[string]float32{"translate": 0, "rotate": 90, "shear": 0, "scale": 0})
	net, err := Build(m, BuildOptions{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	u := map[string]float64{"xreg/augment/rotate/u": 1, "xreg/augment/translate/u_x": 0.3, "xreg/augment/translate/u_y": -0.8,
		"xreg/augment/shear/u": 0.5, "xreg/augment/scale/u": -0.4}
	noise := pinnedNoise(net, u)
	// Sample 0 draws u = 1; sample 1 draws u = −0.6, which the check below does not use.
	img := augImage()
	outs, err := net.Run(map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(2, 1, 6, 6), tensor.WithBacking(img))}, noise)
	if err != nil {
		t.Fatal(err)
	}
	got := outs[1].Data().([]float64)
	worst := 0.0
	for i := 0; i < 6; i++ {
		for j := 0; j < 6; j++ {
			worst = math.Max(worst, math.Abs(got[i*6+j]-img[j*6+5-i]))
		}
	}
	if worst > 1e-6 {
		t.Errorf("rotate 90°: output differs from the hand-computed image by %g", worst)
	}
}

// TestAugmentMagnitudeGradient checks the gradient of a cross-entropy loss with respect to each
// augmentation magnitude (through GridSample's grid gradient, the affine coefficients, Sin, Cos and
// Exp) against central finite differences, in float64, with the uniform draws pinned.
func TestAugmentMagnitudeGradient(t *testing.T) {
	m, regs := augTestModel(t)
	setMagnitudes(t, m, map[string]float32{"translate": 1.3, "rotate": 17, "shear": 0.2, "scale": 0.15})
	net, err := Build(m, BuildOptions{Batch: 2, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	loss, err := net.CrossEntropy("logits")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range regs {
		names = append(names, r.Name)
	}
	if err := net.Grad(loss, names...); err != nil {
		t.Fatal(err)
	}
	if err := net.SetLabels([]int{2, 0}); err != nil {
		t.Fatal(err)
	}
	noise := pinnedNoise(net, map[string]float64{"xreg/augment/rotate/u": 0.7, "xreg/augment/translate/u_x": 0.45,
		"xreg/augment/translate/u_y": -0.8, "xreg/augment/shear/u": 0.55, "xreg/augment/scale/u": -0.35})
	feeds := map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(2, 1, 6, 6), tensor.WithBacking(augImage()))}
	eval := func() float64 {
		t.Helper()
		if err := net.Forward(feeds, noise); err != nil {
			t.Fatal(err)
		}
		l, err := net.LossValue()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	eval()
	analytic := map[string]float64{}
	for _, name := range names {
		g, err := net.GradValue(name)
		if err != nil {
			t.Fatal(err)
		}
		analytic[name] = g.Data().([]float64)[0]
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			v := net.Values[name].Data().([]float64)
			h := 1e-5 * math.Max(1, math.Abs(v[0]))
			v0 := v[0]
			v[0] = v0 + h
			up := eval()
			v[0] = v0 - h
			down := eval()
			v[0] = v0
			fd := (up - down) / (2 * h)
			a := analytic[name]
			if a == 0 {
				t.Fatalf("analytic gradient is exactly 0 (finite differences: %g)", fd)
			}
			if rel := math.Abs(fd-a) / math.Max(math.Abs(fd), 1e-12); rel > 1e-5 {
				t.Errorf("dL/d%s = %.10g, finite differences %.10g (relative error %.2g)", name, a, fd, rel)
			} else {
				t.Logf("dL/d%s = %.8g, finite differences %.8g (relative error %.1g)", name, a, fd, rel)
			}
		})
	}
}
