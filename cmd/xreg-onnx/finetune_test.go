package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

var (
	demoModel   = filepath.Join("..", "..", "testdata", "demo", "cnn-bn-pretrained.onnx")
	fmnistTrain = filepath.Join("..", "..", "testdata", "fmnist-small", "train-images-idx3-ubyte.gz")
)

// TestFinetuneEndToEnd drives `xreg-onnx finetune` on the bundled data (small limits, 2 epochs)
// and checks the report against independent measurements: the models' test NLL and accuracy
// recomputed here from onnxruntime's raw outputs, the recommendation re-derived from the
// regularization-set numbers by the stated rule, the context against the inputs.
func TestFinetuneEndToEnd(t *testing.T) {
	orttest.Require(t)
	const regN, testN = 200, 400
	out := filepath.Join(t.TempDir(), "ft")
	printed, err := runExportCLI("finetune", demoModel, "--data", fmnistTrain, "--limit", "256",
		"--reg-data", fmnistReg, "--reg-limit", "200", "--test-data", fmnistTest, "--test-limit", "400",
		"--epochs", "2", "--reg-every", "2", "--reg-lr", "0.05", "-o", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	r := readReport(t, out)

	// The three models side by side, each measured as onnxruntime computes it.
	test, err := dataset.Load(fmnistTest, dataset.Options{Limit: testN})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]calib.Model{}
	for _, m := range r.Models {
		byName[m.Name] = m
	}
	for _, name := range []string{"original", "plain", "xreg"} {
		m, ok := byName[name]
		if !ok {
			t.Fatalf("report has no model %q (has %v)", name, names(r.Models))
		}
		if m.Selection == nil || m.Selection.N != regN || m.Metrics.N != testN {
			t.Fatalf("%s: measured on %d test and %v regularization examples, want %d and %d", name, m.Metrics.N, m.Selection, testN, regN)
		}
		nll, acc := ortNLL(t, m.File, test)
		if math.Abs(nll-m.Metrics.NLL) > 1e-5 || math.Abs(acc-m.Metrics.Accuracy) > 1e-9 {
			t.Errorf("%s (%s): report says NLL %.6f accuracy %.4f, onnxruntime gives %.6f %.4f", name, m.File, m.Metrics.NLL, m.Metrics.Accuracy, nll, acc)
		}
	}
	if byName["plain"].Metrics.Accuracy <= byName["original"].Metrics.Accuracy {
		t.Errorf("fine-tuning on all ten classes did not beat the model pretrained on six: %.4f vs %.4f",
			byName["plain"].Metrics.Accuracy, byName["original"].Metrics.Accuracy)
	}

	// The recommendation, re-derived: the first model (report order) whose regularization-set NLL
	// is within the tolerance (0.005, the default) of the lowest.
	lowest := math.Inf(1)
	for _, m := range r.Models {
		lowest = math.Min(lowest, m.Selection.NLL)
	}
	want := ""
	for _, m := range r.Models {
		if m.Selection.NLL <= lowest+0.005 {
			want = m.Name
			break
		}
	}
	if r.Recommendation == nil || r.Recommendation.Model != want {
		t.Fatalf("recommendation %+v, want %s (lowest regularization-set NLL %.4f)", r.Recommendation, want, lowest)
	}
	if !strings.Contains(r.Recommendation.Reason, fmt.Sprintf("%.4f", byName[want].Selection.NLL)) || !strings.Contains(r.Recommendation.Rule, "within 0.005") {
		t.Errorf("the recommendation does not state its numbers or rule: %+v", r.Recommendation)
	}
	if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(want) + `\s.*◀ ship`).MatchString(printed) {
		t.Errorf("the printed table does not mark %s:\n%s", want, printed)
	}

	// The context names the model by hash and the split sizes.
	data, err := os.ReadFile(demoModel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ctx := map[string]string{}
	for _, s := range r.Context {
		for _, f := range s.Fields {
			ctx[s.Title+"/"+f.Key] = f.Value
		}
	}
	for key, want := range map[string]string{
		"Model/sha256":                           hex.EncodeToString(sum[:]),
		"Data/training set (θ)":                  "256 examples",
		"Data/regularization set (φ, T, choice)": "200 examples",
		"Data/test set (measurement only)":       "400 examples",
		"Settings/epochs (every run)":            "2",
		"Settings/r (θ steps per φ step)":        "2",
	} {
		if !strings.HasPrefix(ctx[key], want) {
			t.Errorf("context %q = %q, want it to start with %q", key, ctx[key], want)
		}
	}

	// The σ trajectory names the points shortly (the plot's legend uses the same names).
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bn1", "bn2"} {
		if !strings.Contains(string(md), "\n| "+p+" | ") {
			t.Errorf("report.md has no σ row named %q:\n%s", p, md)
		}
	}

	// The HTML stands alone (offline) and has print rules.
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//|@import|url\(`).Match(html) {
		t.Error("report.html references an external resource")
	}
	if !strings.Contains(string(html), "@media print") {
		t.Error("report.html has no print rules")
	}

	// Replacing the folder needs --force.
	if _, err := runExportCLI("finetune", demoModel, "--data", fmnistTrain, "--reg-data", fmnistReg, "--test-data", fmnistTest, "-o", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("an existing output folder: err = %v, want a message naming --force", err)
	}
}

// readReport reads dir/report.json.
func readReport(t *testing.T, dir string) *calib.Report {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r calib.Report
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func names(ms []calib.Model) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// ortNLL runs the model file in onnxruntime over set and returns the mean NLL (natural log, of the
// softmax of the logits, or of the output itself when it holds probabilities) and the accuracy.
func ortNLL(t *testing.T, path string, set *dataset.Set) (nll, acc float64) {
	t.Helper()
	y, k := ortLogits(t, path, set)
	for i := range set.Len() {
		row := y[i*k : (i+1)*k]
		best, sum, mx := 0, 0.0, math.Inf(-1)
		for j, v := range row {
			mx = math.Max(mx, float64(v))
			if v > row[best] {
				best = j
			}
		}
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		nll -= float64(row[set.Y[i]]) - mx - math.Log(sum)
		if best == set.Y[i] {
			acc++
		}
	}
	n := float64(set.Len())
	return nll / n, acc / n
}

// ortLogits runs the model file in onnxruntime over set and returns its first output, k per example.
func ortLogits(t *testing.T, path string, set *dataset.Set) (y []float32, k int) {
	t.Helper()
	s, err := ort.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := s.Inputs()[0]
	shape := append([]int64{int64(set.Len())}, in.Shape[1:]...)
	outs, err := s.Run(ort.Tensor{Name: in.Name, Shape: shape, Float32: set.X})
	if err != nil {
		t.Fatal(err)
	}
	return outs[0].Float32, int(outs[0].Shape[1])
}
