package inject_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/npytest"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func TestMain(m *testing.M) { orttest.Main(m) }

// fixture is one model of a testdata manifest.json, with the counts the fixture script derived
// from the graph.
type fixture struct {
	Name                string
	Dir                 string
	File                string `json:"file"`
	BatchNorm           int    `json:"batch_norm"`
	LayerNorm           int    `json:"layer_norm"`
	LayerNormDecomposed int    `json:"layer_norm_decomposed"`
	InputShape          []any  `json:"input_shape"`
}

func (f fixture) path() string { return filepath.Join(f.Dir, f.File) }

// fixtures reads the manifests of testdata/models and (when present) testdata/large.
func fixtures(t *testing.T) []fixture {
	t.Helper()
	var out []fixture
	for _, dir := range []string{"../testdata/models", "../testdata/large"} {
		data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			if os.IsNotExist(err) && strings.HasSuffix(dir, "large") {
				t.Logf("skipping the large fixtures: %s is absent (make them with /usr/bin/python3 scripts/make_fixtures.py --large)", dir)
				continue
			}
			t.Fatal(err)
		}
		var m map[string]fixture
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for name, f := range m {
			f.Name, f.Dir = name, dir
			out = append(out, f)
		}
	}
	return out
}

// readNPY reads a float32 .npy file and its shape.
func readNPY(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	data, shape, err := npytest.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, shape
}

// firstSamples returns the first n samples of a batch and their shape.
func firstSamples(data []float32, shape []int, n int) ([]float32, []int64) {
	per := len(data) / shape[0]
	s := []int64{int64(n)}
	for _, d := range shape[1:] {
		s = append(s, int64(d))
	}
	return data[:n*per], s
}

// session opens m in onnxruntime.
func session(t *testing.T, m *onnximport.Model) *ort.Session {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.OpenBytes(b, m.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run runs s on one float input and returns its first output.
func run(t *testing.T, s *ort.Session, x []float32, shape []int64) []float32 {
	t.Helper()
	out, err := s.Run(ort.Tensor{Shape: shape, Float32: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Float32
}

// setRegs sets every reg of the given kind to v.
func setRegs(t *testing.T, m *onnximport.Model, regs []inject.Reg, kind string, v float32) {
	t.Helper()
	for _, r := range regs {
		if r.Kind != kind {
			continue
		}
		old := m.Graph.Initializers[r.Name]
		data := make([]float32, old.Size())
		for i := range data {
			data[i] = v
		}
		if err := m.SetInitializer(onnximport.NewFloatTensor(r.Name, old.Dims, data)); err != nil {
			t.Fatal(err)
		}
	}
}
