package export_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/npytest"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// fixtures are the models of testdata/models; each has NAME.input.npy and NAME.output.npy.
var fixtures = []string{"mlp-ln-op13", "mlp-ln-op17", "cnn-bn", "vgg11-bn-tiny", "wrn-16-1", "resnet18-tiny"}

func fixturePath(name string) string { return filepath.Join("..", "testdata", "models", name+".onnx") }

func load(t testing.TB, name string) *onnximport.Model {
	t.Helper()
	m, err := onnximport.Load(fixturePath(name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// injected returns the fixture after inject.Apply with opt.
func injected(t testing.TB, name string, opt inject.Options) *onnximport.Model {
	t.Helper()
	m := load(t, name)
	if _, err := inject.Apply(m, opt); err != nil {
		t.Fatal(err)
	}
	return m
}

// readNPY reads a float32 .npy file.
func readNPY(t testing.TB, path string) ([]float32, []int64) {
	t.Helper()
	data, dims, err := npytest.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	shape := make([]int64, len(dims))
	for i, d := range dims {
		shape[i] = int64(d)
	}
	return data, shape
}

// fixtureInput returns the first n examples of the fixture's reference input.
func fixtureInput(t testing.TB, name string, n int) ([]float32, []int64) {
	t.Helper()
	x, shape := readNPY(t, filepath.Join("..", "testdata", "models", name+".input.npy"))
	per := len(x) / int(shape[0])
	shape[0] = int64(n)
	return x[:n*per], shape
}

// runModel runs m in onnxruntime on one input and returns its first output.
func runModel(t testing.TB, m *onnximport.Model, x []float32, shape []int64) ort.Tensor {
	t.Helper()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return runBytes(t, data, x, shape)
}

func runBytes(t testing.TB, data []byte, x []float32, shape []int64) ort.Tensor {
	t.Helper()
	s, err := ort.OpenBytes(data, "test model", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(ort.Tensor{Shape: shape, Float32: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// softmaxRows is a float64 reference softmax of rows of c values.
func softmaxRows(z []float32, c int) []float64 {
	p := make([]float64, len(z))
	for i := 0; i < len(z); i += c {
		mx := math.Inf(-1)
		for _, v := range z[i : i+c] {
			mx = math.Max(mx, float64(v))
		}
		s := 0.0
		for j := range c {
			p[i+j] = math.Exp(float64(z[i+j]) - mx)
			s += p[i+j]
		}
		for j := range c {
			p[i+j] /= s
		}
	}
	return p
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// setRegs sets every element of every noise parameter of m to logSigma.
func setRegs(t testing.TB, m *onnximport.Model, logSigma float32) {
	testutil.SetLogSigma(t, m, logSigma)
}

// maxRowsDiff returns max |want[i][j] − got[i·C + j]| for rows of C = len(want[i]) values.
func maxRowsDiff(want [][]float64, got []float64) float64 {
	d, at := 0.0, 0
	for _, row := range want {
		for j, p := range row {
			d = math.Max(d, math.Abs(p-got[at+j]))
		}
		at += len(row)
	}
	return d
}
