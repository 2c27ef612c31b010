package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sbinet/npyio"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

// reportData is a labelled data set for a linear model y = x·W + B on two inputs and three classes
// (W = [[1, 0, -1], [2, 1, 0]], B = [0.5, -1, 2]), chosen so that some predictions are wrong.
var (
	reportX = [8][2]float32{{1, 2}, {3, -1}, {0, 0}, {-2, 0.5}, {0.25, 4}, {1, 1}, {-3, -3}, {0.5, -0.5}}
	reportY = [8]int64{0, 0, 2, 2, 1, 0, 1, 2}
)

// writeReportFixtures writes x.npy and y.npy, and the linear model as logits.onnx and (ending in
// Softmax) probs.onnx, into a fresh folder.
func writeReportFixtures(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	w, b := [][]float32{{1, 0, -1}, {2, 1, 0}}, []float32{0.5, -1, 2}
	for name, post := range map[string]string{"logits.onnx": "", "probs.onnx": "Softmax"} {
		if err := os.WriteFile(filepath.Join(dir, name), orttest.Linear([]int64{2}, w, b, post), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range map[string]any{"x.npy": reportX, "y.npy": reportY} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := npyio.Write(f, v); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// handProbabilities is softmax(x·W + B) for reportX, computed here.
func handProbabilities() ([][]float64, []int) {
	var probs [][]float64
	var labels []int
	for i, x := range reportX {
		z := []float64{float64(x[0]) + 2*float64(x[1]) + 0.5, float64(x[1]) - 1, -float64(x[0]) + 2}
		mx := math.Max(z[0], math.Max(z[1], z[2]))
		s := 0.0
		for j := range z {
			z[j] = math.Exp(z[j] - mx)
			s += z[j]
		}
		for j := range z {
			z[j] /= s
		}
		probs = append(probs, z)
		labels = append(labels, int(reportY[i]))
	}
	return probs, labels
}

func TestReportCommand(t *testing.T) {
	orttest.Require(t)
	dir := writeReportFixtures(t)
	log := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(log, []byte(`{"kind":"reg","step":1,"epoch":0,"sigma":{"a":0.2}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	// The models as arguments, before and after flags (--model is the older spelling).
	printed, err := runExportCLI("report", filepath.Join(dir, "logits.onnx"), "--name", "linear logits",
		"--name", "linear softmax", "--data", filepath.Join(dir, "x.npy"), filepath.Join(dir, "probs.onnx"),
		"--bins", "5", "--log", log, "--title", "Linear", "-o", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	probs, labels := handProbabilities()
	want, err := calib.Compute(probs, labels, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := readReportJSON(t, out)
	if len(r.Models) != 2 || r.Models[0].Name != "linear logits" || r.Models[1].Name != "linear softmax" || r.Title != "Linear" {
		t.Fatalf("report %q with models %+v", r.Title, r.Models)
	}
	for _, m := range r.Models {
		got := m.Metrics
		if got.N != 8 || got.Accuracy != want.Accuracy || len(got.Bins) != 5 {
			t.Errorf("%s: n %d, accuracy %v, %d bins; want 8, %v, 5", m.Name, got.N, got.Accuracy, len(got.Bins), want.Accuracy)
		}
		for _, c := range []struct {
			what      string
			got, want float64
		}{
			{"NLL", got.NLL, want.NLL}, {"Brier", got.Brier, want.Brier}, {"ECE", got.ECE, want.ECE},
			{"adaptive ECE", got.AdaptiveECE, want.AdaptiveECE}, {"MCE", got.MCE, want.MCE},
			{"mean confidence", got.MeanConfidence, want.MeanConfidence},
		} {
			if math.Abs(c.got-c.want) > 1e-6 {
				t.Errorf("%s: %s %v, want %v from the hand-built probabilities", m.Name, c.what, c.got, c.want)
			}
		}
	}
	if r.Provenance["linear logits: output"] != `"y" (logits, softmaxed)` || r.Provenance["linear softmax: output"] != `"y" (probabilities)` {
		t.Errorf("provenance %v: want each model's output and whether it was softmaxed", r.Provenance)
	}
	for _, f := range []string{"report.md", "report.html", "reliability-linear_logits.png", "reliability-linear_softmax.svg", "sigma.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(printed, "linear softmax") || !strings.Contains(printed, "report.html") {
		t.Errorf("printed:\n%s", printed)
	}
}

func TestReportErrors(t *testing.T) {
	orttest.Require(t)
	dir := writeReportFixtures(t)
	logits, data := filepath.Join(dir, "logits.onnx"), filepath.Join(dir, "x.npy")
	for _, test := range []struct {
		name string
		args []string
		want string
	}{
		{"names and models", []string{"--model", logits, "--model", logits, "--name", "a", "--data", data}, "report: 1 --name for 2 models"},
		{"same name", []string{"--model", logits, "--model", logits, "--data", data}, `would both be named "logits"; name them with --name`},
		{"no data", []string{"--model", logits}, `Required flag "data" not set`},
		{"missing model", []string{"--model", filepath.Join(dir, "none.onnx"), "--data", data}, "report: model: open"},
		{"not a model", []string{"--model", data, "--data", data}, "predict: evaluate"},
		{"wrong example shape", []string{"--model", logits, "--data", filepath.Join("..", "..", "testdata", "fmnist-small", "test-images-idx3-ubyte.gz")},
			`model input "x" takes examples of shape [2] (2 values), the data's are [1 28 28] (784 values)`},
		{"empty log", []string{"--model", logits, "--data", data, "--log", data}, "report: --log: calib: trajectory"},
		{"bins", []string{"--model", logits, "--data", data, "--bins", "0"}, "report: --bins 0: want a value in [1, 1000]"},
		{"negative mc", []string{"--model", logits, "--data", data, "--mc", "-2"}, "report: --mc -2: want a value in [0, 256]"},
	} {
		t.Run(test.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report")
			printed, err := runExportCLI(append(append([]string{"report"}, test.args...), "-o", out)...)
			if err == nil {
				t.Fatalf("no error; printed:\n%s", printed)
			}
			if msg := err.Error(); !strings.Contains(msg, test.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q\nwant one line containing %q", msg, test.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a report was written")
			}
		})
	}
}

// TestReportMC: report --mc K on an injected cnn-bn (pre-affine, σ ≈ 0) gives the original model's
// metrics (fresh Monte-Carlo averaging of draws that add nothing), names the evaluation in the
// provenance, and leaves the deterministic original evaluated once.
func TestReportMC(t *testing.T) {
	orttest.Require(t)
	dir := t.TempDir()
	injected := filepath.Join(dir, "cnn-bn.xreg.onnx")
	orig := filepath.Join("..", "..", "testdata", "models", "cnn-bn.onnx")
	if out, err := runInjectCLI("--placement", "pre-affine", "--sigma0", "1e-12", "-o", injected, orig); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out := filepath.Join(dir, "report")
	data := filepath.Join("..", "..", "testdata", "fmnist-small", "test-images-idx3-ubyte.gz")
	printed, err := runExportCLI("report", "--model", injected, "--name", "injected", "--model", orig, "--name", "original",
		"--data", data, "--limit", "200", "--mc", "3", "--seed", "4", "-o", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	r := readReportJSON(t, out)
	a, b := r.Models[0].Metrics, r.Models[1].Metrics
	if a.Accuracy != b.Accuracy || math.Abs(a.NLL-b.NLL) > 1e-5 || math.Abs(a.ECE-b.ECE) > 1e-5 {
		t.Errorf("injected with σ≈0 under --mc 3: accuracy %v NLL %v ECE %v; original %v %v %v", a.Accuracy, a.NLL, a.ECE, b.Accuracy, b.NLL, b.ECE)
	}
	if !strings.Contains(r.Provenance["injected: evaluation"], "fresh Monte-Carlo average of 3") || r.Provenance["original: evaluation"] != "" {
		t.Errorf("provenance %v", r.Provenance)
	}
}
