package predict

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

func TestMain(m *testing.M) { orttest.Main(m) }

// softmaxLin is the softmax of the logits [[5.5, 1, 1], [1.5, -2, -1]] of the linear test model,
// computed with numpy in float64.
var softmaxLin = [][]float64{
	{0.978264916850449, 0.010867541574775538, 0.010867541574775538},
	{0.8990522695867426, 0.027149026101416524, 0.07379870431184087},
}

func TestProbabilities(t *testing.T) {
	for _, test := range []struct {
		name    string
		shape   []int64
		data    []float32
		want    [][]float64
		applied bool
		err     string
	}{
		{name: "logits", shape: []int64{2, 3}, data: []float32{5.5, 1, 1, 1.5, -2, -1}, want: softmaxLin, applied: true},
		{name: "probabilities", shape: []int64{2, 2}, data: []float32{0.2, 0.8, 0.5, 0.5}, want: [][]float64{{0.2, 0.8}, {0.5, 0.5}}},
		{name: "sum within 1e-4", shape: []int64{1, 3}, data: []float32{0.33333, 0.33333, 0.33338}, want: [][]float64{{0.33333, 0.33333, 0.33338}}},
		{name: "sum 0.9", shape: []int64{1, 3}, data: []float32{0.3, 0.3, 0.3}, want: [][]float64{{1.0 / 3, 1.0 / 3, 1.0 / 3}}, applied: true},
		// One row is not a probability vector: every row is softmaxed (numpy).
		{name: "one negative row", shape: []int64{2, 2}, data: []float32{0.5, 0.5, -0.1, 1.1},
			want: [][]float64{{0.5, 0.5}, {0.23147521650098232, 0.7685247834990178}}, applied: true},
		{name: "vector is one row", shape: []int64{2}, data: []float32{0.25, 0.75}, want: [][]float64{{0.25, 0.75}}},
		{name: "trailing dims flattened", shape: []int64{2, 1, 2}, data: []float32{0.25, 0.75, 1, 0}, want: [][]float64{{0.25, 0.75}, {1, 0}}},
		{name: "scalar", shape: []int64{}, data: []float32{1}, err: `output "y" is a scalar`},
		{name: "NaN", shape: []int64{1, 2}, data: []float32{float32(math.NaN()), 1}, err: `output "y" row 0 holds NaN`},
		{name: "no classes", shape: []int64{2, 0}, data: []float32{}, err: "has no classes"},
	} {
		rows, applied, err := probabilities(ort.Tensor{Name: "y", Shape: test.shape, Float32: test.data})
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) {
				t.Errorf("%s: error %v, want %q", test.name, err, test.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", test.name, err)
			continue
		}
		if applied != test.applied || len(rows) != len(test.want) {
			t.Errorf("%s: applied %v, %d rows; want %v, %d", test.name, applied, len(rows), test.applied, len(test.want))
			continue
		}
		for i := range rows {
			// float32 model outputs: compare at float32 precision.
			if testutil.Compare(rows[i], test.want[i], 1e-7, 0).Bad != 0 {
				t.Errorf("%s: row %d = %v, want %v", test.name, i, rows[i], test.want[i])
			}
		}
	}
}

func TestFitShape(t *testing.T) {
	cnn := ort.Info{Name: "x", Type: "float32", Shape: []int64{-1, 1, 2, 2}}
	fixed := ort.Info{Name: "x", Type: "float32", Shape: []int64{2, 3}}
	one := ort.Info{Name: "x", Type: "float32", Shape: []int64{1, -1}}
	for _, test := range []struct {
		in    ort.Info
		shape []int64
		want  []int64
		err   string
	}{
		{in: cnn, shape: []int64{3, 1, 2, 2}, want: []int64{3, 1, 2, 2}},
		{in: cnn, shape: []int64{1, 2, 2}, want: []int64{1, 1, 2, 2}},
		{in: cnn, shape: []int64{2, 2}, err: `predict: input shape [2 2] does not match model input "x": want [N 1 2 2] (or [1 2 2] for one example)`},
		{in: cnn, shape: []int64{3, 3, 2, 2}, err: `want [N 1 2 2]`},
		{in: fixed, shape: []int64{2, 3}, want: []int64{2, 3}},
		{in: fixed, shape: []int64{3}, err: `does not match model input "x": want [2 3]`},
		{in: one, shape: []int64{5}, want: []int64{1, 5}},
		{in: one, shape: []int64{2, 5}, err: `want [1 ?] (or [?] for one example)`},
		{in: cnn, shape: []int64{-1, 1, 2, 2}, err: "negative dimension"},
	} {
		got, err := FitShape(test.in, test.shape)
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) {
				t.Errorf("FitShape(%v, %v): error %v, want %q", test.in.Shape, test.shape, err, test.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, test.want) {
			t.Errorf("FitShape(%v, %v) = %v, %v; want %v", test.in.Shape, test.shape, got, err, test.want)
		}
	}
}

func TestTopK(t *testing.T) {
	p := []float64{0.1, 0.4, 0.1, 0.4}
	for _, test := range []struct {
		k    int
		want []int
	}{{0, []int{}}, {1, []int{1}}, {3, []int{1, 3, 0}}, {9, []int{1, 3, 0, 2}}, {-1, []int{}}} {
		if got := TopK(p, test.k); !slices.Equal(got, test.want) {
			t.Errorf("TopK(%v, %d) = %v, want %v", p, test.k, got, test.want)
		}
	}
}

var (
	linW = [][]float32{{1, 0, -1}, {2, 1, 0}}
	linB = []float32{0.5, -1, 2}
)

func openLinear(t *testing.T, example []int64, post string) *Predictor {
	t.Helper()
	orttest.Require(t)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, orttest.Linear(example, linW, linB, post), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ort.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPredict(t *testing.T) {
	for _, test := range []struct {
		post    string
		applied bool
	}{{"", true}, {"Softmax", false}} {
		p := openLinear(t, []int64{2}, test.post)
		for _, in := range []struct {
			data  []float32
			shape []int64
			want  [][]float64
		}{
			{[]float32{1, 2, 3, -1}, []int64{2, 2}, softmaxLin},
			{[]float32{3, -1}, []int64{2}, softmaxLin[1:]}, // one example, no batch dimension
		} {
			res, err := p.Predict(context.Background(), in.data, in.shape)
			if err != nil {
				t.Fatal(err)
			}
			if res.SoftmaxApplied != test.applied || res.Output != "y" || len(res.Probabilities) != len(in.want) {
				t.Fatalf("post %q: result %+v", test.post, res)
			}
			for i, row := range res.Probabilities {
				if testutil.Compare(row, in.want[i], 1e-6, 0).Bad != 0 || res.Classes[i] != 0 {
					t.Errorf("post %q: row %d = %v class %d, want %v class 0", test.post, i, row, res.Classes[i], in.want[i])
				}
			}
		}
		_, err := p.Predict(context.Background(), make([]float32, 6), []int64{2, 3})
		var se *shapeError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "want [N 2] (or [2] for one example)") {
			t.Errorf("wrong shape: error %v", err)
		}
	}
}

func TestNewRejects(t *testing.T) {
	orttest.Require(t)
	for _, test := range []struct {
		name  string
		model []byte
		want  string
	}{
		{"two inputs", orttest.Build(
			[]orttest.Value{{Name: "a", Shape: []int64{-1, 2}}, {Name: "b", Shape: []int64{-1, 2}}},
			[]orttest.Value{{Name: "y", Shape: []int64{-1, 2}}}, nil,
			orttest.Node{Op: "Add", In: []string{"a", "b"}, Out: []string{"y"}}), "has 2 inputs"},
		{"int64 input", orttest.Build(
			[]orttest.Value{{Name: "a", Int64: true, Shape: []int64{-1, 2}}},
			[]orttest.Value{{Name: "y", Int64: true, Shape: []int64{-1, 2}}}, nil,
			orttest.Node{Op: "Neg", In: []string{"a"}, Out: []string{"y"}}), "only float32 inputs"},
	} {
		s, err := ort.OpenBytes(test.model, test.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(s)
		s.Close()
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want %q", test.name, err, test.want)
		}
	}
}
