package export_test

import (
	"math"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

// linearW and linearB define y = x·W + B on two inputs and three classes.
var (
	linearW = [][]float32{{1, 0, -1}, {2, 1, 0}}
	linearB = []float32{0.5, -1, 2}
)

func linearScores(x []float32) []float64 {
	var out []float64
	for i := 0; i < len(x); i += 2 {
		for j := range 3 {
			out = append(out, float64(x[i])*float64(linearW[0][j])+float64(x[i+1])*float64(linearW[1][j])+float64(linearB[j]))
		}
	}
	return out
}

func flatten(rows [][]float64) []float32 {
	var out []float32
	for _, r := range rows {
		for _, v := range r {
			out = append(out, float32(v))
		}
	}
	return out
}

func TestEvaluate(t *testing.T) {
	orttest.Require(t)
	x := []float32{1, 2, 3, -1, 0, 0, -2, 0.5, 0.25, 4, 1, 1, -3, -3}
	set := &dataset.Set{X: x, Shape: []int{2}, Y: []int{0, 1, 2, 0, 1, 2, 0}, Classes: 3, Source: "seven"}
	grid := &dataset.Set{X: x[:12], Shape: []int{1, 2}, Y: []int{0, 1, 2, 0, 1, 2}, Classes: 3, Source: "grid"}
	fixed := orttest.Build( // batch fixed at 3: 7 examples need a padded last batch
		[]orttest.Value{{Name: "x", Shape: []int64{3, 2}}}, []orttest.Value{{Name: "y", Shape: []int64{3, 3}}},
		[]orttest.Init{{Name: "W", Shape: []int64{2, 3}, Float32: []float32{1, 0, -1, 2, 1, 0}}, {Name: "B", Shape: []int64{3}, Float32: linearB}},
		orttest.Node{Op: "MatMul", In: []string{"x", "W"}, Out: []string{"xw"}},
		orttest.Node{Op: "Add", In: []string{"xw", "B"}, Out: []string{"y"}},
	)
	want := linearScores(x)
	for _, test := range []struct {
		name    string
		model   []byte
		set     *dataset.Set
		softmax bool // whether Evaluate must apply softmax
	}{
		{"logits", orttest.Linear([]int64{2}, linearW, linearB, ""), set, true},
		{"probabilities", orttest.Linear([]int64{2}, linearW, linearB, "Softmax"), set, false},
		{"fixed batch", fixed, set, true},
		{"reshaped examples", orttest.Linear([]int64{2}, linearW, linearB, ""), grid, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			ev, err := export.Evaluate(test.model, test.name, test.set)
			if err != nil {
				t.Fatal(err)
			}
			n := test.set.Len()
			if len(ev.Scores) != n || ev.Output != "y" || ev.SoftmaxApplied != test.softmax {
				t.Fatalf("%d rows of output %q, softmax applied %v; want %d rows of \"y\", %v", len(ev.Scores), ev.Output, ev.SoftmaxApplied, n, test.softmax)
			}
			probs := softmaxRows(float32s(want[:3*n]), 3)
			wantScores := want[:3*n]
			if !test.softmax {
				wantScores = probs
			}
			if d := maxAbsDiff(t, flatten(ev.Scores), wantScores); d > 1e-6 {
				t.Errorf("scores differ from the closed form by %g", d)
			}
			if d := maxAbsDiff(t, flatten(ev.Probabilities), probs); d > 1e-6 {
				t.Errorf("probabilities differ from the closed form's softmax by %g", d)
			}
		})
	}

	for _, test := range []struct {
		name string
		set  *dataset.Set
		want string
	}{
		{"wrong example size", &dataset.Set{X: make([]float32, 6), Shape: []int{3}, Y: []int{0, 1}, Classes: 3, Source: "threes"},
			`export: evaluate bad on threes: model input "x" takes examples of shape [2] (2 values), the data's are [3] (3 values)`},
		{"too many classes", &dataset.Set{X: x[:4], Shape: []int{2}, Y: []int{0, 4}, Classes: 5, Source: "five"},
			"export: evaluate bad: the model scores 3 classes, the data five has 5"},
		{"invalid set", &dataset.Set{X: []float32{float32(math.NaN()), 0}, Shape: []int{2}, Y: []int{0}, Classes: 3, Source: "nan"},
			"export: evaluate bad: dataset: nan: NaN at row 0"},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := export.Evaluate(orttest.Linear([]int64{2}, linearW, linearB, ""), "bad", test.set)
			if err == nil || !strings.HasPrefix(err.Error(), test.want) {
				t.Errorf("error %v, want %q", err, test.want)
			}
		})
	}
}
