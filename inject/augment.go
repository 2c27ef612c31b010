package inject

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// augmentOpset is the opset GridSample needs.
const augmentOpset = 16

// term is a per-sample [N,1] quantity of the sampling map: a value, or the constant c when v is "".
type term struct {
	v string
	c float64
}

func constant(c float64) term { return term{c: c} }

// mul multiplies two terms, folding constants.
func (ed *editor) mul(name string, a, b term) term {
	switch {
	case a.v == "" && b.v == "":
		return constant(a.c * b.c)
	case a.v == "" && a.c == 0, b.v == "" && b.c == 0:
		return constant(0)
	case a.v == "" && a.c == 1:
		return b
	case b.v == "" && b.c == 1:
		return a
	case a.v == "":
		a, b = b, a
		fallthrough
	case b.v == "":
		c := ed.constant(name+"_factor", onnximport.NewFloatTensor("", []int{1}, []float32{float32(b.c)}))
		return term{v: ed.node(name, "Mul", []string{a.v, c})}
	}
	return term{v: ed.node(name, "Mul", []string{a.v, b.v})}
}

// addAugment resamples the model's image input with the transforms s.augment (see the package
// documentation for the sampling map) and returns one reg per transform.
func (ed *editor) addAugment(s *settings, opset int64) ([]Reg, error) {
	x, err := ed.imageInput()
	if err != nil {
		return nil, &OptionError{Field: "Augment", Value: strings.Join(s.augment, ","), Err: err}
	}
	h, w := x.Shape[2], x.Shape[3]
	const pre = "xreg/augment/"

	// ref is an [N,1] tensor whose only use is to give RandomUniformLike its shape.
	var axes []string
	var axesAttr []*onnxpb.AttributeProto
	if opset >= 18 {
		axes = []string{ed.constant(pre+"ref_axes", onnximport.NewIntTensor("", []int{3}, []int64{1, 2, 3}))}
	} else {
		axesAttr = []*onnxpb.AttributeProto{onnximport.AttrInts("axes", []int64{1, 2, 3})}
	}
	ref4 := ed.node(pre+"ref_mean", "ReduceMean", append([]string{x.Name}, axes...), append(axesAttr, onnximport.AttrInt("keepdims", 1))...)
	ref := ed.node(pre+"ref", "Flatten", []string{ref4}, onnximport.AttrInt("axis", 1))
	uniform := func(name string) string {
		return ed.node(name, "RandomUniformLike", []string{ref}, onnximport.AttrFloat("low", -1), onnximport.AttrFloat("high", 1))
	}

	var regs []Reg
	amount := func(kind, u string) string { // a = m·u
		mag := ed.magnitudeParam(kind, s.magnitude[kind])
		if len(regs) == 0 || regs[len(regs)-1].Mode != kind {
			regs = append(regs, Reg{Name: mag, Kind: KindAugment, Mode: kind, Point: x.Name, Op: "input",
				Value: x.Name, Shape: slices.Clone(x.Shape), Init: float64(float32(s.magnitude[kind]))})
		}
		return ed.node(pre+kind+"/amount"+strings.TrimPrefix(u, pre+kind+"/u"), "Mul", []string{u, mag})
	}
	cos, sin, k, shear := constant(1), constant(0), constant(1), constant(0)
	tx, ty := constant(0), constant(0)
	for _, kind := range s.augment {
		switch kind {
		case Translate:
			tx = term{v: amount(kind, uniform(pre+kind+"/u_x"))}
			ty = term{v: amount(kind, uniform(pre+kind+"/u_y"))}
		case Rotate:
			deg := amount(kind, uniform(pre+kind+"/u"))
			perDeg := ed.constant(pre+kind+"/radians_per_degree", onnximport.NewFloatTensor("", []int{1}, []float32{math.Pi / 180}))
			rad := ed.node(pre+kind+"/radians", "Mul", []string{deg, perDeg})
			cos = term{v: ed.node(pre+kind+"/cos", "Cos", []string{rad})}
			sin = term{v: ed.node(pre+kind+"/sin", "Sin", []string{rad})}
		case Shear:
			shear = term{v: amount(kind, uniform(pre+kind+"/u"))}
		case Scale:
			a := amount(kind, uniform(pre+kind+"/u"))
			minus := ed.constant(pre+kind+"/minus_one", onnximport.NewFloatTensor("", []int{1}, []float32{-1}))
			neg := ed.node(pre+kind+"/neg_amount", "Mul", []string{a, minus})
			k = term{v: ed.node(pre+kind+"/zoom_inv", "Exp", []string{neg})} // source = p·e^−a
		}
	}
	kc := ed.mul(pre+"k_cos", k, cos)
	ks := ed.mul(pre+"k_sin", k, sin)
	coefs := []term{kc, ks, ed.mul(pre+"k_cos_h", kc, shear), ed.mul(pre+"k_sin_h", ks, shear), tx, ty}

	// The grid is Σ coef_j · basis_j over the six coefficients: a MatMul for the per-sample ones
	// and a constant offset for the others.
	basis := gridBasis(h, w)
	var vars []string
	var rows []float32
	offset := make([]float32, 2*h*w)
	hasOffset := false
	for j, c := range coefs {
		if c.v != "" {
			vars = append(vars, c.v)
			rows = append(rows, basis[j]...)
			continue
		}
		if c.c != 0 {
			hasOffset = true
			for i, b := range basis[j] {
				offset[i] += float32(c.c) * b
			}
		}
	}
	coef := vars[0]
	if len(vars) > 1 {
		coef = ed.node(pre+"coefficients", "Concat", vars, onnximport.AttrInt("axis", 1))
	}
	basisName := ed.constant(pre+"basis", onnximport.NewFloatTensor("", []int{len(vars), 2 * h * w}, rows))
	flat := ed.node(pre+"grid_flat", "MatMul", []string{coef, basisName})
	if hasOffset {
		off := ed.constant(pre+"grid_offset", onnximport.NewFloatTensor("", []int{2 * h * w}, offset))
		flat = ed.node(pre+"grid_flat_offset", "Add", []string{flat, off})
	}
	shape := ed.constant(pre+"grid_shape", onnximport.NewIntTensor("", []int{4}, []int64{-1, int64(h), int64(w), 2}))
	grid := ed.node(pre+"grid", "Reshape", []string{flat, shape})
	mode := "bilinear"
	if opset >= 20 {
		mode = "linear"
	}
	out := ed.node(pre+"out", "GridSample", []string{x.Name, grid},
		onnximport.AttrString("mode", mode), onnximport.AttrString("padding_mode", "zeros"), onnximport.AttrInt("align_corners", 0))

	nodes, names := ed.take()
	ed.Rewire(x.Name, out)
	ed.Front(nodes...)
	for i := range regs {
		regs[i].Output = out
		regs[i].Nodes = names
	}
	return regs, nil
}

// magnitudeParam adds (once) the magnitude initializer of a transform.
func (ed *editor) magnitudeParam(kind string, init float64) string {
	name := "xreg.augment." + kind + ".magnitude"
	for _, t := range ed.Proto().Graph.Initializer {
		if t.GetName() == name {
			return name
		}
	}
	return ed.initializer(name, []int{1}, float32(init))
}

// imageInput returns the model's one float input, checked to be N×C×H×W with static C, H, W; its
// errors say what augmentation needs (the caller names Options.Augment).
func (ed *editor) imageInput() (*onnximport.Value, error) {
	var floats []*onnximport.Value
	for _, v := range ed.m.Graph.Inputs {
		if v.DType.IsFloat() {
			floats = append(floats, v)
		}
	}
	if len(floats) != 1 {
		names := make([]string, len(floats))
		for i, v := range floats {
			names[i] = fmt.Sprintf("%q", v.Name)
		}
		return nil, fmt.Errorf("needs exactly one floating-point image input; the model has %d (%s)", len(floats), strings.Join(names, ", "))
	}
	x := floats[0]
	if x.DType != onnximport.Float32 {
		return nil, fmt.Errorf("needs a float32 image input; input %q is %v", x.Name, x.DType)
	}
	ok := x.HasShape && len(x.Shape) == 4
	for i := 1; ok && i < 4; i++ {
		ok = x.Shape[i] > 0
	}
	if !ok {
		got := "no declared shape"
		if x.HasShape {
			got = "shape " + formatShape(x.Shape)
		}
		return nil, fmt.Errorf("needs an image input N×C×H×W with static C, H and W; input %q has %s", x.Name, got)
	}
	if ed.isGraphOutput(x.Name) {
		return nil, fmt.Errorf("input %q is also a graph output, which is not supported", x.Name)
	}
	return x, nil
}

// gridBasis returns, for each of the six sampling-map coefficients (k·cos, k·sin, k·cos·h,
// k·sin·h, t_x, t_y), its contribution to the [H, W, 2] grid per unit coefficient, in GridSample's
// normalized coordinates with align_corners 0 (pixel j's centre is at (2j+1)/W − 1, so a
// centre-relative pixel offset d maps to 2d/W).
func gridBasis(h, w int) [6][]float32 {
	var b [6][]float32
	for j := range b {
		b[j] = make([]float32, 2*h*w)
	}
	sx, sy := 2/float64(w), 2/float64(h)
	for i := 0; i < h; i++ {
		y := float64(i) - float64(h-1)/2
		for j := 0; j < w; j++ {
			x := float64(j) - float64(w-1)/2
			o := 2 * (i*w + j)
			// q_x = kc·x + (kch − ks)·y − t_x;  q_y = ks·x + (kc + ksh)·y − t_y
			b[0][o], b[0][o+1] = float32(sx*x), float32(sy*y)
			b[1][o], b[1][o+1] = float32(-sx*y), float32(sy*x)
			b[2][o] = float32(sx * y)
			b[3][o+1] = float32(sy * y)
			b[4][o] = float32(-sx)
			b[5][o+1] = float32(-sy)
		}
	}
	return b
}

// raiseSafeFrom gives, for each op the project supports, the lowest opset from which raising a
// model to augmentOpset keeps the op's meaning (from the ONNX operator changelog, versions 11–16).
// Ops absent here were not checked, and block the raise.
var raiseSafeFrom = map[string]int64{
	// Changes in 12–16 only widen type constraints, or add attributes whose defaults keep the old
	// behaviour (Reshape-14 allowzero, BatchNormalization-14 training_mode, Clip-11 inputs kept).
	"Add": 11, "Sub": 11, "Mul": 11, "Div": 11, "Pow": 11, "Sqrt": 11, "Exp": 11, "Relu": 11,
	"Sigmoid": 11, "Tanh": 11, "Identity": 11, "MatMul": 11, "GlobalAveragePool": 11, "Clip": 11,
	"Gemm": 11, "Flatten": 11, "Concat": 11, "Transpose": 11, "Reshape": 11, "Constant": 11,
	"ReduceMean": 11, "Conv": 11, "MaxPool": 11, "AveragePool": 11, "BatchNormalization": 11,
	"RandomNormalLike": 11, "RandomUniformLike": 11, "Sin": 11, "Cos": 11,
	// Softmax-13 normalizes along one axis instead of the coerced 2-D tail.
	"Softmax": 13,
	// Dropout-12 takes ratio as an input instead of an attribute.
	"Dropout": 12,
	// Resize-13 changed its inputs and coordinate modes.
	"Resize": 13,
}

// raiseOpset raises mp's default opset to augmentOpset when it is lower and every op of the model
// keeps its meaning; it returns the original opset, or 0 when nothing changed.
func raiseOpset(m *onnximport.Model, mp *onnxpb.ModelProto) (int64, error) {
	if m.Opset >= augmentOpset {
		return 0, nil
	}
	for _, n := range m.Graph.Nodes {
		from, ok := raiseSafeFrom[n.OpType]
		if !ok {
			return 0, fmt.Errorf("needs opset ≥ %d (GridSample) and the model has opset %d; %v: op %s was not checked for changes "+
				"between these opsets, so the opset is not raised; convert the model first (onnx.version_converter.convert_version(model, %d))",
				augmentOpset, m.Opset, n, n.OpType, augmentOpset)
		}
		if m.Opset < from {
			return 0, fmt.Errorf("needs opset ≥ %d (GridSample) and the model has opset %d; %v: op %s changed meaning at opset %d, "+
				"so the opset cannot be raised safely; convert the model first (onnx.version_converter.convert_version(model, %d))",
				augmentOpset, m.Opset, n, n.OpType, from, augmentOpset)
		}
	}
	for _, o := range mp.OpsetImport {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			v := int64(augmentOpset)
			o.Version = &v
		}
	}
	if mp.GetIrVersion() < 8 {
		ir := int64(8) // the IR version released with opset 16
		mp.IrVersion = &ir
	}
	return m.Opset, nil
}
