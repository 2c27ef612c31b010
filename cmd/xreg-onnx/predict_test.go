package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbinet/npyio"

	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
)

// runApp runs the CLI with args and returns what it printed.
func runApp(ctx context.Context, w *bytes.Buffer, args ...string) error {
	app := newApp()
	app.Writer = w
	app.ErrWriter = w
	return app.RunContext(ctx, flagsFirst(app, append([]string{"xreg-onnx"}, args...)))
}

// writeLinear writes the linear test model y = x·W + B (W = [[1, 0, -1], [2, 1, 0]],
// B = [0.5, -1, 2]; post "" or "Softmax") and the input x = [[1, 2], [3, -1]] as x.npy.
func writeLinear(t *testing.T, post string) (model, input string) {
	t.Helper()
	dir := t.TempDir()
	model = filepath.Join(dir, "lin.onnx")
	input = filepath.Join(dir, "x.npy")
	if err := os.WriteFile(model, orttest.Linear([]int64{2}, [][]float32{{1, 0, -1}, {2, 1, 0}}, []float32{0.5, -1, 2}, post), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x := [2][2]float32{{1, 2}, {3, -1}}
	if err := npyio.Write(f, x); err != nil {
		t.Fatal(err)
	}
	return model, input
}

func TestPredictText(t *testing.T) {
	orttest.Require(t)
	// By hand: logits [[5.5, 1, 1], [1.5, -2, -1]]; their softmax (numpy) rounded to 6 places.
	for _, test := range []struct {
		post, how string
	}{
		{"", "softmax of the output (it is not a probability vector)"},
		{"Softmax", "the output itself (already a probability vector)"},
	} {
		model, input := writeLinear(t, test.post)
		var out bytes.Buffer
		if err := runApp(context.Background(), &out, "predict", "--model", model, "--input", input, "--top", "2"); err != nil {
			t.Fatal(err)
		}
		want := "model   " + model + "\n" +
			"input   " + input + ", shape [2 2]\n" +
			`output  "y"; probabilities: ` + test.how + "\n" +
			"example 0: class 0\n" +
			"      0  0.978265\n" +
			"      1  0.010868\n" +
			"example 1: class 0\n" +
			"      0  0.899052\n" +
			"      2  0.073799\n"
		if out.String() != want {
			t.Errorf("post %q: got\n%s\nwant\n%s", test.post, out.String(), want)
		}
	}
}

// TestPredictTorch compares with PyTorch's probabilities for the CNN of testdata/predict/gen.py.
func TestPredictTorch(t *testing.T) {
	orttest.Require(t)
	var out bytes.Buffer
	// The model as the argument, between flags (TestPredictText uses the older --model).
	if err := runApp(context.Background(), &out, "predict", "--input", "testdata/predict/x.npy",
		"testdata/predict/cnn.onnx", "--json", "--top", "1"); err != nil {
		t.Fatal(err)
	}
	var rep predictReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	want, shape, err := predict.LoadNPY("testdata/predict/probs.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.SoftmaxApplied || rep.Output != "logits" || len(rep.Probabilities) != int(shape[0]) || len(rep.Top) != int(shape[0]) {
		t.Fatalf("report %+v", rep)
	}
	c := int(shape[1])
	for i, row := range rep.Probabilities {
		best := 0
		for j, p := range row {
			if math.Abs(p-float64(want[i*c+j])) > 1e-6 {
				t.Errorf("example %d class %d: %v, torch %v", i, j, p, want[i*c+j])
			}
			if want[i*c+j] > want[i*c+best] {
				best = j
			}
		}
		if rep.Classes[i] != best || len(rep.Top[i]) != 1 || rep.Top[i][0].Class != best {
			t.Errorf("example %d: class %d, top %v; torch's argmax %d", i, rep.Classes[i], rep.Top[i], best)
		}
	}
}

func TestPredictErrors(t *testing.T) {
	orttest.Require(t)
	model, input := writeLinear(t, "")
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", model, "--input", "testdata/predict/x.npy"},
			`predict: input shape [3 1 8 8] does not match model input "x": want [N 2] (or [2] for one example) (input testdata/predict/x.npy)`},
		{[]string{"--model", model, "--input", "x.txt"}, "predict: --input x.txt: want a .npy, .png, .jpg or .jpeg file"},
		{[]string{"--model", model, "--input", input, "--top", "0"}, "predict: --top 0: want a value in [1,"},
		{[]string{"--model", model, "--input", input, "--threads", "0"}, "predict: --threads 0: want a value in [1, 256]"},
		{[]string{"--model", "missing.onnx", "--input", input}, "ort: model missing.onnx: stat missing.onnx: no such file or directory"},
		{[]string{"--input", input}, "predict: expected a model file (xreg-onnx predict [flags] model.onnx)"},
		{[]string{"--input", input, model, model}, "predict: expected one model file, got 2 arguments"},
		{[]string{"--input", input, "--model", model, model}, "predict: the model is given twice"},
	} {
		var out bytes.Buffer
		err := runApp(context.Background(), &out, append([]string{"predict"}, test.args...)...)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("predict %v: error %v, want %q", test.args, err, test.want)
		}
	}
}
