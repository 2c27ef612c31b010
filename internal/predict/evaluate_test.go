package predict_test

import (
	"math"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
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

func flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// expNormalize is the closed-form softmax exp(z_j)/Σ exp(z_k) of each row of c values (the
// logits here are small, so no shift is needed).
func expNormalize(z []float64, c int) []float64 {
	p := make([]float64, len(z))
	for i := 0; i < len(z); i += c {
		s := 0.0
		for j := range c {
			s += math.Exp(z[i+j])
		}
		for j := range c {
			p[i+j] = math.Exp(z[i+j]) / s
		}
	}
	return p
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
			ev, err := predict.Evaluate(test.model, test.name, test.set, "")
			if err != nil {
				t.Fatal(err)
			}
			n := test.set.Len()
			if len(ev.Scores) != n || ev.Output != "y" || ev.SoftmaxApplied != test.softmax {
				t.Fatalf("%d rows of output %q, softmax applied %v; want %d rows of \"y\", %v", len(ev.Scores), ev.Output, ev.SoftmaxApplied, n, test.softmax)
			}
			probs := expNormalize(want[:3*n], 3)
			wantScores := want[:3*n]
			if !test.softmax {
				wantScores = probs
			}
			if d := testutil.MaxAbsDiff(t, flatten(ev.Scores), wantScores); d > 1e-6 {
				t.Errorf("scores differ from the closed form by %g", d)
			}
			if d := testutil.MaxAbsDiff(t, flatten(ev.Probabilities), probs); d > 1e-6 {
				t.Errorf("probabilities differ from the closed form's softmax by %g", d)
			}
		})
	}

	// A kind given overrides detection: probabilities read as logits are softmaxed again.
	ev, err := predict.Evaluate(orttest.Linear([]int64{2}, linearW, linearB, "Softmax"), "forced", set, predict.Logits)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.SoftmaxApplied {
		t.Error("kind Logits: softmax not applied")
	}
	if _, err := predict.Evaluate(orttest.Linear([]int64{2}, linearW, linearB, ""), "odd", set, "scores"); err == nil ||
		!strings.Contains(err.Error(), `output kind "scores"`) {
		t.Errorf("unknown kind: error %v", err)
	}

	for _, test := range []struct {
		name string
		set  *dataset.Set
		want string
	}{
		{"wrong example size", &dataset.Set{X: make([]float32, 6), Shape: []int{3}, Y: []int{0, 1}, Classes: 3, Source: "threes"},
			`predict: evaluate bad on threes: model input "x" takes examples of shape [2] (2 values), the data's are [3] (3 values)`},
		{"too many classes", &dataset.Set{X: x[:4], Shape: []int{2}, Y: []int{0, 4}, Classes: 5, Source: "five"},
			"predict: evaluate bad: the model scores 3 classes, the data five has 5"},
		{"invalid set", &dataset.Set{X: []float32{float32(math.NaN()), 0}, Shape: []int{2}, Y: []int{0}, Classes: 3, Source: "nan"},
			"predict: evaluate bad: dataset: nan: NaN at row 0"},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := predict.Evaluate(orttest.Linear([]int64{2}, linearW, linearB, ""), "bad", test.set, "")
			if err == nil || !strings.HasPrefix(err.Error(), test.want) {
				t.Errorf("error %v, want %q", err, test.want)
			}
		})
	}
}
