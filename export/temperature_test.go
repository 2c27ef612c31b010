package export_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestTemperatureLogits: the folded model outputs logits/T under the original output name.
func TestTemperatureLogits(t *testing.T) {
	orttest.Require(t)
	const temp = 2.5
	x, shape := fixtureInput(t, "cnn-bn", 16)
	logits := runModel(t, load(t, "cnn-bn"), x, shape).Float32
	m := injected(t, "cnn-bn", inject.Options{})
	rep, err := export.Apply(m, export.Options{Temperature: temp})
	if err != nil {
		t.Fatal(err)
	}
	got := runModel(t, m, x, shape)
	want := make([]float64, len(logits))
	for i, v := range logits {
		want[i] = float64(v) / temp
	}
	if d := testutil.MaxAbsDiff(t, got.Float32, want); d > 1e-7 {
		t.Errorf("output differs from logits/T by %g", d)
	}
	if d := testutil.MaxAbsDiff(t, float32s(softmaxRows(got.Float32, 10)), softmaxRows(float32s(want), 10)); d > 1e-7 {
		t.Errorf("softmax of the output differs from softmax(logits/T) by %g", d)
	}
	div := m.Graph.Producer["logits"]
	if div == nil || div.Name != "xreg/temperature" || div.OpType != "Div" || len(m.Graph.Outputs) != 1 {
		t.Errorf("output produced by %v; want the Div node xreg/temperature", div)
	}
	if v, _ := m.Metadata(export.MetadataTemperature); v != "2.5" || rep.Method != export.Temperature || rep.Fitted {
		t.Errorf("metadata temperature %q, method %q, fitted %v; want 2.5, temperature, false", v, rep.Method, rep.Fitted)
	}
}

// softmaxModel is x [N,3] → BatchNormalization → MatMul W [3,4] → Softmax: a model whose output
// holds probabilities, with a normalization node to inject noise after.
var softmaxModel = struct {
	scale, bias, mean, variance []float32
	w                           [][]float32
}{
	scale: []float32{1.5, 0.5, 1}, bias: []float32{0.1, -0.2, 0.3}, mean: []float32{0.5, -1, 0}, variance: []float32{2, 0.5, 1},
	w: [][]float32{{1, -1, 0.5, 2}, {0, 2, -1, 1}, {-1.5, 0.5, 1, 0}},
}

func buildSoftmaxModel(t *testing.T) *onnximport.Model {
	sm := softmaxModel
	var w []float32
	for _, row := range sm.w {
		w = append(w, row...)
	}
	data := orttest.Build(
		[]orttest.Value{{Name: "x", Shape: []int64{-1, 3}}},
		[]orttest.Value{{Name: "y", Shape: []int64{-1, 4}}},
		[]orttest.Init{
			{Name: "scale", Shape: []int64{3}, Float32: sm.scale}, {Name: "bias", Shape: []int64{3}, Float32: sm.bias},
			{Name: "mean", Shape: []int64{3}, Float32: sm.mean}, {Name: "var", Shape: []int64{3}, Float32: sm.variance},
			{Name: "W", Shape: []int64{3, 4}, Float32: w},
		},
		orttest.Node{Op: "BatchNormalization", In: []string{"x", "scale", "bias", "mean", "var"}, Out: []string{"bn"}},
		orttest.Node{Op: "MatMul", In: []string{"bn", "W"}, Out: []string{"z"}},
		orttest.Node{Op: "Softmax", In: []string{"z"}, Out: []string{"y"}, Ints: map[string]int64{"axis": -1}},
	)
	m, err := onnximport.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	return m
}

// softmaxModelLogits computes z = BN(x)·W by hand, in float64.
func softmaxModelLogits(x []float32) [][]float64 {
	sm := softmaxModel
	var out [][]float64
	for i := 0; i < len(x); i += 3 {
		z := make([]float64, 4)
		for c := range 3 {
			bn := float64(sm.scale[c])*(float64(x[i+c])-float64(sm.mean[c]))/math.Sqrt(float64(sm.variance[c])+1e-5) + float64(sm.bias[c])
			for j := range 4 {
				z[j] += bn * float64(sm.w[c][j])
			}
		}
		out = append(out, z)
	}
	return out
}

// TestTemperatureProbabilities: for a model ending in Softmax, the temperature divides the Softmax's
// input, and the output is softmax(z/T) of the hand-computed logits z.
func TestTemperatureProbabilities(t *testing.T) {
	orttest.Require(t)
	const temp = 3
	m := buildSoftmaxModel(t)
	rep, err := export.Apply(m, export.Options{Temperature: temp})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0, 0, 0, 1, 2, 3, -2, 0.5, 4, 0.3, -0.7, 1.1}
	got := runModel(t, m, x, []int64{4, 3})
	var want []float64
	for _, z := range softmaxModelLogits(x) {
		for j := range z {
			z[j] /= temp
		}
		p, _ := calib.Softmax([][]float64{z})
		want = append(want, p[0]...)
	}
	if d := testutil.MaxAbsDiff(t, got.Float32, want); d > 1e-6 {
		t.Errorf("output differs from softmax(z/T) by %g", d)
	}
	if rep.Output != export.Probabilities || m.Graph.Producer["y"].OpType != "Softmax" {
		t.Errorf("output %q produced by %v; want probabilities from the original Softmax", rep.Output, m.Graph.Producer["y"])
	}
}

// TestTemperatureFit: the fitted temperature is calib.FitTemperature of the deterministic model's
// logits on the calibration set, computed here without export.
func TestTemperatureFit(t *testing.T) {
	orttest.Require(t)
	t.Run("cnn-bn", func(t *testing.T) {
		set, err := dataset.Load("../testdata/fmnist-small/reg-images-idx3-ubyte.gz", dataset.Options{Limit: 300})
		if err != nil {
			t.Fatal(err)
		}
		out := runModel(t, load(t, "cnn-bn"), set.X, []int64{int64(set.Len()), 1, 28, 28}).Float32
		var logits [][]float64
		for i := 0; i < len(out); i += 10 {
			logits = append(logits, f64(out[i:i+10]))
		}
		want, err := calib.FitTemperature(logits, set.Y)
		if err != nil {
			t.Fatal(err)
		}
		m := injected(t, "cnn-bn", inject.Options{})
		rep, err := export.Apply(m, export.Options{Calibration: set})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(rep.Temperature-want) > 1e-6*want || !rep.Fitted || rep.CalibrationSize != 300 {
			t.Errorf("temperature %v (fitted %v on %d), want %v on 300", rep.Temperature, rep.Fitted, rep.CalibrationSize, want)
		}
		if v, _ := m.Metadata(export.MetadataTemperature); v != strconv.FormatFloat(rep.Temperature, 'g', -1, 64) {
			t.Errorf("metadata temperature %q, want %v", v, rep.Temperature)
		}
	})
	t.Run("softmax model", func(t *testing.T) {
		set := &dataset.Set{Shape: []int{3}, Classes: 4, Source: "synthetic"}
		for i := range 40 {
			for c := range 3 {
				set.X = append(set.X, float32(math.Sin(float64(3*i+c))*2))
			}
			set.Y = append(set.Y, (i*7)%4)
		}
		want, err := calib.FitTemperature(softmaxModelLogits(set.X), set.Y)
		if err != nil {
			t.Fatal(err)
		}
		m := buildSoftmaxModel(t)
		rep, err := export.Apply(m, export.Options{Calibration: set})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(rep.Temperature-want) > 1e-4*want {
			t.Errorf("temperature %v, want %v", rep.Temperature, want)
		}
	})
}

func float32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
