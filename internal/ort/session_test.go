package ort_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

// The linear test model: x·W + B with
//
//	x = [[1, 2], [3, -1]], W = [[1, 0, -1], [2, 1, 0]], B = [0.5, -1, 2]
//
// gives by hand the logits [[5.5, 1, 1], [1.5, -2, -1]].
var (
	linW = [][]float32{{1, 0, -1}, {2, 1, 0}}
	linB = []float32{0.5, -1, 2}
	linX = ort.Tensor{Name: "x", Shape: []int64{2, 2}, Float32: []float32{1, 2, 3, -1}}
)

func writeModel(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunLinear(t *testing.T) {
	orttest.Require(t)
	for _, test := range []struct {
		post string
		want []float32
	}{
		{"", []float32{5.5, 1, 1, 1.5, -2, -1}},
		{"Relu", []float32{5.5, 1, 1, 1.5, 0, 0}},
		// softmax of each row, computed with numpy in float64.
		{"Softmax", []float32{0.978264916850449, 0.010867541574775538, 0.010867541574775538,
			0.8990522695867426, 0.027149026101416524, 0.07379870431184087}},
	} {
		t.Run("post="+test.post, func(t *testing.T) {
			path := writeModel(t, orttest.Linear([]int64{2}, linW, linB, test.post))
			s, err := ort.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := s.Run(linX)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Name != "y" || !slices.Equal(out[0].Shape, []int64{2, 3}) || out[0].Int64 != nil {
				t.Fatalf("outputs %+v, want one float32 y of shape [2 3]", out)
			}
			if testutil.Compare(out[0].Float32, test.want, 1e-6, 0).Bad != 0 {
				t.Errorf("y = %v, want %v", out[0].Float32, test.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	orttest.Require(t)
	s, err := ort.OpenBytes(orttest.Linear([]int64{1, 2, 1}, linW, linB, "Softmax"), "mem", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Name() != "mem" {
		t.Errorf("Name() = %q", s.Name())
	}
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 1 || in[0].Name != "x" || in[0].Type != "float32" || !slices.Equal(in[0].Shape, []int64{-1, 1, 2, 1}) {
		t.Errorf("Inputs() = %v, want x float32 [-1 1 2 1]", in)
	}
	if len(out) != 1 || out[0].Name != "y" || out[0].Type != "float32" || !slices.Equal(out[0].Shape, []int64{-1, 3}) {
		t.Errorf("Outputs() = %v, want y float32 [-1 3]", out)
	}
	// Flatten then the same weights: a [1 1 2 1] example behaves like the [1 2] one.
	res, err := s.Run(ort.Tensor{Shape: []int64{1, 1, 2, 1}, Float32: []float32{3, -1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0.8990522695867426, 0.027149026101416524, 0.07379870431184087}; testutil.Compare(res[0].Float32, want, 1e-6, 0).Bad != 0 {
		t.Errorf("y = %v, want %v", res[0].Float32, want)
	}
}

// intModel has two int64 inputs and two outputs: s = a + b and p = a * c, c = [2, -3, 4].
func intModel() []byte {
	return orttest.Build(
		[]orttest.Value{{Name: "a", Int64: true, Shape: []int64{3}}, {Name: "b", Int64: true, Shape: []int64{3}}},
		[]orttest.Value{{Name: "s", Int64: true, Shape: []int64{3}}, {Name: "p", Int64: true, Shape: []int64{3}}},
		[]orttest.Init{{Name: "c", Shape: []int64{3}, Int64: []int64{2, -3, 4}}},
		orttest.Node{Op: "Add", In: []string{"a", "b"}, Out: []string{"s"}},
		orttest.Node{Op: "Mul", In: []string{"a", "c"}, Out: []string{"p"}},
	)
}

func TestRunInt64AndOrder(t *testing.T) {
	orttest.Require(t)
	s, err := ort.OpenBytes(intModel(), "int", &ort.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := []int64{1, -2, 3}
	b := []int64{10, 20, 1 << 40}
	for name, inputs := range map[string][]ort.Tensor{
		"positional": {{Shape: []int64{3}, Int64: a}, {Shape: []int64{3}, Int64: b}},
		"by name":    {{Name: "b", Shape: []int64{3}, Int64: b}, {Name: "a", Shape: []int64{3}, Int64: a}},
	} {
		out, err := s.Run(inputs...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(out) != 2 || out[0].Name != "s" || out[1].Name != "p" {
			t.Fatalf("%s: outputs %+v", name, out)
		}
		if want := []int64{11, 18, 3 + 1<<40}; !slices.Equal(out[0].Int64, want) {
			t.Errorf("%s: s = %v, want %v", name, out[0].Int64, want)
		}
		if want := []int64{2, 6, 12}; !slices.Equal(out[1].Int64, want) {
			t.Errorf("%s: p = %v, want %v", name, out[1].Int64, want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	orttest.Require(t)
	fixed := orttest.Build(
		[]orttest.Value{{Name: "x", Shape: []int64{2, 2}}}, []orttest.Value{{Name: "y", Shape: []int64{2, 2}}}, nil,
		orttest.Node{Op: "Relu", In: []string{"x"}, Out: []string{"y"}})
	path := writeModel(t, fixed)
	s, err := ort.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, test := range []struct {
		name   string
		inputs []ort.Tensor
		want   string
	}{
		{"wrong batch", []ort.Tensor{{Shape: []int64{1, 2}, Float32: []float32{1, 2}}},
			`ort: model ` + path + `: input "x": shape [1 2] does not match the model's [2 2]`},
		{"wrong rank", []ort.Tensor{{Shape: []int64{4}, Float32: []float32{1, 2, 3, 4}}},
			`input "x": shape [4] does not match the model's [2 2]`},
		{"too few values", []ort.Tensor{{Shape: []int64{2, 2}, Float32: []float32{1, 2, 3}}},
			`input "x": shape [2 2] needs 4 values, got 3`},
		{"wrong type", []ort.Tensor{{Shape: []int64{2, 2}, Int64: []int64{1, 2, 3, 4}}},
			`input "x": got int64 data, the model wants float32`},
		{"two types", []ort.Tensor{{Shape: []int64{2, 2}, Int64: []int64{1}, Float32: []float32{1}}},
			`input "x": both Float32 and Int64 data set`},
		{"no inputs", nil, `got 0 inputs, the model has 1 ("x" float32[2 2])`},
		{"unknown name", []ort.Tensor{{Name: "z", Shape: []int64{2, 2}, Float32: make([]float32, 4)}},
			`no input named "z"`},
	} {
		_, err := s.Run(test.inputs...)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want it to contain %q", test.name, err, test.want)
		}
	}
	// The same tensor with the right shape runs.
	out, err := s.Run(ort.Tensor{Shape: []int64{2, 2}, Float32: []float32{-1, 2, 0, -3}})
	if err != nil || testutil.Compare(out[0].Float32, []float32{0, 2, 0, 0}, 0, 0).Bad != 0 {
		t.Errorf("Relu = %v, %v; want [0 2 0 0]", out, err)
	}
}

func TestOpenErrors(t *testing.T) {
	orttest.Require(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("this is not a protobuf model"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.onnx")
	for _, test := range []struct {
		name string
		open func() (*ort.Session, error)
		want string
	}{
		{"bad file", func() (*ort.Session, error) { return ort.Open(garbage, nil) }, "ort: model " + garbage + ": "},
		{"missing file", func() (*ort.Session, error) { return ort.Open(missing, nil) }, "ort: model " + missing + ": "},
		{"bad bytes", func() (*ort.Session, error) { return ort.OpenBytes([]byte{1, 2, 3}, "junk", nil) }, "ort: model junk: "},
		{"empty bytes", func() (*ort.Session, error) { return ort.OpenBytes(nil, "empty", nil) }, "ort: model empty: no data"},
		{"negative threads", func() (*ort.Session, error) {
			return ort.OpenBytes(intModel(), "int", &ort.Options{IntraOpThreads: -1})
		}, "ort: model int: negative thread count"},
	} {
		s, err := test.open()
		if err == nil {
			s.Close()
			t.Errorf("%s: no error", test.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), test.want) {
			t.Errorf("%s: error %q, want prefix %q", test.name, err, test.want)
		}
	}
}

func TestConcurrentRunAndClose(t *testing.T) {
	orttest.Require(t)
	s, err := ort.OpenBytes(orttest.Linear([]int64{2}, linW, linB, ""), "lin", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{5.5, 1, 1, 1.5, -2, -1}
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				out, err := s.Run(linX)
				if err == nil && testutil.Compare(out[0].Float32, want, 1e-6, 0).Bad != 0 {
					t.Errorf("concurrent run: y = %v, want %v", out[0].Float32, want)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run(linX); err == nil || !strings.Contains(err.Error(), "ort: model lin: session is closed") {
		t.Errorf("Run after Close: %v", err)
	}
}
