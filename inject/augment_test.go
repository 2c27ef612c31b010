package inject_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// pinAugment turns every RandomUniformLike draw of the augmentation into an Identity of a new
// graph input "pin:<node>" (N×1), and makes the augmented image a graph output, so that a test can
// choose u and read the transformed image from onnxruntime.
func pinAugment(t *testing.T, m *onnximport.Model, augOut string, c, h, w int64) []string {
	t.Helper()
	var pins []string
	g := m.Proto.Graph
	for _, n := range g.Node {
		if n.GetOpType() == "RandomUniformLike" && strings.HasPrefix(n.GetName(), "xreg/augment/") {
			pin := "pin:" + n.GetName()
			n.OpType, n.Input, n.Attribute = proto.String("Identity"), []string{pin}, nil
			g.Input = append(g.Input, floatInfo(pin, -1, 1))
			pins = append(pins, pin)
		}
	}
	g.Output = append(g.Output, floatInfo(augOut, -1, c, h, w))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	return pins
}

func floatInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if d < 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		}
		s.Dim = append(s.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: s}}}}
}

// around lists the pixels a bilinear sample at coordinate v reads with non-zero weight when v is an
// integer (one pixel) or a half-integer (two pixels, weight ½ each).
func around(v float64) []int {
	f := math.Floor(v)
	if v == f {
		return []int{int(f)}
	}
	return []int{int(f), int(f) + 1}
}

// TestAugmentHandComputed pins the magnitudes and the draws u and compares the augmented image,
// computed by onnxruntime from the injected graph, with images computed by hand: shifts by whole
// pixels, rotations by exactly ±90°, a shear and a zoom that land on half pixels (the average of
// two or four pixels), and zero magnitudes (the identity).
func TestAugmentHandComputed(t *testing.T) {
	type src func(i, j int, ch, cw float64) (rows, cols []int) // pixels averaged for output (i, j)
	cases := []struct {
		name string
		mag  map[string]float32
		u    map[string]float32 // by pin suffix
		src  src
	}{
		{"translate 3 px right", map[string]float32{"translate": 3}, map[string]float32{"translate/u_x": 1, "translate/u_y": 0},
			func(i, j int, _, _ float64) ([]int, []int) { return []int{i}, []int{j - 3} }},
		{"translate 2 px up", map[string]float32{"translate": 2}, map[string]float32{"translate/u_x": 0, "translate/u_y": -1},
			func(i, j int, _, _ float64) ([]int, []int) { return []int{i + 2}, []int{j} }},
		{"rotate +90°", map[string]float32{"rotate": 90}, map[string]float32{"rotate/u": 1},
			func(i, j int, ch, cw float64) ([]int, []int) { return []int{j}, []int{int(2*cw) - i} }},
		{"rotate −90°", map[string]float32{"rotate": 90}, map[string]float32{"rotate/u": -1},
			func(i, j int, ch, cw float64) ([]int, []int) { return []int{int(2*ch) - j}, []int{i} }},
		{"rotate +90° and translate 3 px", map[string]float32{"rotate": 90, "translate": 3},
			map[string]float32{"rotate/u": 1, "translate/u_x": 1, "translate/u_y": 0},
			func(i, j int, ch, cw float64) ([]int, []int) { return []int{j}, []int{int(2*cw) - i - 3} }},
		{"shear 1", map[string]float32{"shear": 2}, map[string]float32{"shear/u": 0.5},
			func(i, j int, ch, cw float64) ([]int, []int) { return []int{i}, around(float64(j) + float64(i) - ch) }},
		{"zoom out 2×", map[string]float32{"scale": float32(math.Ln2)}, map[string]float32{"scale/u": -1},
			func(i, j int, ch, cw float64) ([]int, []int) {
				return around(2*float64(i) - ch), around(2*float64(j) - cw)
			}},
		{"zero magnitudes", map[string]float32{}, map[string]float32{"rotate/u": 0.8, "translate/u_x": -0.3, "translate/u_y": 0.9, "shear/u": 0.4, "scale/u": -0.7},
			func(i, j int, _, _ float64) ([]int, []int) { return []int{i}, []int{j} }},
	}
	orttest.Require(t)
	for _, fx := range []string{"cnn-bn", "resnet18-tiny"} {
		m, err := onnximport.Load("../testdata/models/" + fx + ".onnx")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := inject.Apply(m, inject.Options{Augment: []string{"scale", "shear", "rotate", "translate"}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.RaisedFrom != 13 || rep.Opset != 16 {
			t.Errorf("%s: opset raised from %d to %d, want 13 → 16", fx, rep.RaisedFrom, rep.Opset)
		}
		var aug []inject.Reg
		for _, r := range rep.Regs {
			if r.Kind == inject.KindAugment {
				aug = append(aug, r)
			}
		}
		if len(aug) != 4 {
			t.Fatalf("%s: %d augment regs, want 4", fx, len(aug))
		}
		x, xshape := readNPY(t, "../testdata/models/"+fx+".input.npy")
		nc, h, w := xshape[1], xshape[2], xshape[3]
		pins := pinAugment(t, m, aug[0].Output, int64(nc), int64(h), int64(w))
		const batch = 2
		xb, xs := firstSamples(x, xshape, batch)
		for _, tc := range cases {
			t.Run(fx+"/"+tc.name, func(t *testing.T) {
				mags := map[string]float32{"translate": 0, "rotate": 0, "shear": 0, "scale": 0}
				for k, v := range tc.mag {
					mags[k] = v
				}
				for k, v := range mags {
					if err := m.SetInitializer(onnximport.NewFloatTensor("xreg.augment."+k+".magnitude", []int{1}, []float32{v})); err != nil {
						t.Fatal(err)
					}
				}
				s := session(t, m)
				in := []ort.Tensor{{Name: "input", Shape: xs, Float32: xb}}
				for _, p := range pins {
					u, ok := tc.u[strings.TrimPrefix(p, "pin:xreg/augment/")]
					if !ok {
						u = 0.37 // a draw whose magnitude is 0 does nothing
					}
					in = append(in, ort.Tensor{Name: p, Shape: []int64{batch, 1}, Float32: []float32{u, u}})
				}
				outs, err := s.Run(in...)
				if err != nil {
					t.Fatal(err)
				}
				got := outs[len(outs)-1].Float32
				ch, cw := float64(h-1)/2, float64(w-1)/2
				worst := 0.0
				plane := h * w
				for b := 0; b < batch*nc; b++ {
					img := xb[b*plane : (b+1)*plane]
					for i := 0; i < h; i++ {
						for j := 0; j < w; j++ {
							rows, cols := tc.src(i, j, ch, cw)
							want := 0.0
							for _, r := range rows {
								for _, c := range cols {
									if r >= 0 && r < h && c >= 0 && c < w {
										want += float64(img[r*w+c])
									}
								}
							}
							want /= float64(len(rows) * len(cols))
							worst = math.Max(worst, math.Abs(float64(got[b*plane+i*w+j])-want))
						}
					}
				}
				if worst > 1e-4 {
					t.Errorf("augmented image differs from the hand-computed one by %g", worst)
				}
			})
		}
	}
}

// TestAugmentOpsets injects augmentation into a tiny image model at the opsets where the emitted
// subgraph differs (ReduceMean's axes become an input at 18, GridSample's bilinear mode is called
// "linear" from 20) and checks with onnxruntime that the file runs, that zero magnitudes leave the
// output unchanged, and that non-zero ones change it.
func TestAugmentOpsets(t *testing.T) {
	for _, opset := range []int64{13, 16, 18, 20, 21} {
		t.Run(fmt.Sprint("opset ", opset), func(t *testing.T) {
			build := func() *onnximport.Model {
				return tinyModel(t, opset, []int64{-1, 1, 5, 5}, []int64{-1, 25}, bnInits,
					tnode{op: "BatchNormalization", in: []string{"x", "s", "b", "mu", "var"}, out: []string{"n"}},
					tnode{op: "Flatten", in: []string{"n"}, out: []string{"y"}})
			}
			m := build()
			rep, err := inject.Apply(m, inject.Options{Augment: inject.AugmentKinds()})
			if err != nil {
				t.Fatal(err)
			}
			if want := max(opset, 16); rep.Opset != want || m.Opset != want {
				t.Errorf("opset %d (model %d), want %d", rep.Opset, m.Opset, want)
			}
			orttest.Require(t)
			x := make([]float32, 2*25)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			shape := []int64{2, 1, 5, 5}
			want := run(t, session(t, build()), x, shape)
			setRegs(t, m, rep.Regs, inject.KindNoise, float32(math.Inf(-1)))
			setRegs(t, m, rep.Regs, inject.KindAugment, 0)
			if d := testutil.MaxAbsDiff(t, run(t, session(t, m), x, shape), want); d > 1e-6 {
				t.Errorf("zero magnitudes change the output by %g", d)
			}
			setRegs(t, m, rep.Regs, inject.KindAugment, 1)
			if d := testutil.MaxAbsDiff(t, run(t, session(t, m), x, shape), want); d == 0 {
				t.Error("magnitude 1 leaves the output unchanged")
			}
		})
	}
}
