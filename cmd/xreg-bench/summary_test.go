package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
)

func TestAgg(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want string
	}{
		{nil, "–"},
		{[]float64{0.5}, "0.5000 ± 0.0000"},
		{[]float64{1, 2, 3}, "2.0000 ± 1.0000"},      // sample std: sqrt(2/2)
		{[]float64{0.8, 0.9}, "0.8500 ± 0.0707"},     // sqrt(0.005)
		{[]float64{-1, 1, -1, 1}, "0.0000 ± 1.1547"}, // sqrt(4/3)
	} {
		var a agg
		for _, x := range tc.v {
			a.add(x)
		}
		if got := a.String(); got != tc.want {
			t.Errorf("agg%v = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestWriteSummary renders hand-made runs of two seeds: the no-regularization row is the mean ±
// std of their test accuracies, and the grid picks, per seed, the run with the lowest
// regularization-set NLL.
func TestWriteSummary(t *testing.T) {
	dir := t.TempDir()
	metrics := func(acc float64) *calib.Metrics { return &calib.Metrics{Accuracy: acc, NLL: 1 - acc} }
	runs := []Run{
		{Model: "mlp-ln", Method: "none", Seed: 0, Test: metrics(0.80), RegNLL: 0.50, TrainAcc: 1, Date: "2026-12-01", Machine: "test"},
		{Model: "mlp-ln", Method: "none", Seed: 1, Test: metrics(0.90), RegNLL: 0.40, TrainAcc: 1, Date: "2026-12-01", Machine: "test"},
		{Model: "mlp-ln", Method: "grid", Seed: 0, Sigma: 0.5, Test: metrics(0.70), RegNLL: 0.30, TrainAcc: 1},
		{Model: "mlp-ln", Method: "grid", Seed: 1, Sigma: 0.5, Test: metrics(0.60), RegNLL: 0.45, TrainAcc: 1},
	}
	for i, r := range runs {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("run%d.json", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := writeSummary(&out, dir); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"0.8500 ± 0.0707", // no regularization: accuracies 0.80, 0.90
		"0.8000 ± 0.1414", // grid: seed 0 picks σ = 0.5 (0.70), seed 1 keeps σ = 0 (0.90)
		"seed 0: σ = 0.5", "seed 1: σ = 0",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if err := writeSummary(&out, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("an empty folder: %v", err)
	}
}
