package finetune_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/finetune"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

func TestMain(m *testing.M) { orttest.Main(m) }

// TestGridBaseline runs the grid baseline on a little data and checks, from each run's own log,
// that the grid model is the fixed-σ run with the lowest regularization-set NLL after its last
// epoch (PROTOCOL.md, method 4), and that every run had the same budget.
func TestGridBaseline(t *testing.T) {
	orttest.Require(t)
	data := func(name string) string { return filepath.Join(testutil.Root(), "testdata", "fmnist-small", name) }
	out := filepath.Join(t.TempDir(), "ft")
	res, err := finetune.Run(finetune.Config{
		Model:     filepath.Join(testutil.Root(), "testdata", "demo", "cnn-bn-pretrained.onnx"),
		TrainData: finetune.Data{Path: data("train-images-idx3-ubyte.gz"), Limit: 128},
		RegData:   finetune.Data{Path: data("reg-images-idx3-ubyte.gz"), Limit: 96},
		TestData:  finetune.Data{Path: data("test-images-idx3-ubyte.gz"), Limit: 96},
		Training:  xreg.TrainConfig{Epochs: 1, RegEvery: 1},
		Baseline:  finetune.BaselineGrid,
		Out:       out,
	})
	if err != nil {
		t.Fatal(err)
	}
	best, bestNLL := -1.0, math.Inf(1)
	for _, s := range finetune.GridSigmas {
		name := fmt.Sprintf("grid-sigma-%g", s)
		if s == 0 {
			name = "plain"
		}
		f, err := os.Open(filepath.Join(out, "logs", name+".log.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var last struct {
			Step   int     `json:"step"`
			RegNLL float64 `json:"reg_nll"`
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"kind":"epoch"`) {
				if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.Close()
		if last.Step != 2 {
			t.Errorf("%s ran %d steps, want 2 (128 examples, batch 64, 1 epoch)", name, last.Step)
		}
		if last.RegNLL < bestNLL {
			best, bestNLL = s, last.RegNLL
		}
	}
	var desc string
	for _, m := range res.Report.Models {
		if m.Name == "grid" {
			desc = m.Description
		}
	}
	if want := fmt.Sprintf("fixed σ = %g, the best of the 7-run grid", best); !strings.Contains(desc, want) {
		t.Errorf("grid model %q, want %q (lowest regularization-set NLL %.4f)", desc, want, bestNLL)
	}
}
