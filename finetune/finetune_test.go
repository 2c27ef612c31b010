package finetune_test

import (
	"bufio"
	"encoding/json"
	"errors"
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

// TestInputChangedDuringRun: the original is measured from its file, read again after training
// (its bytes are not held through the run); a file that changed meanwhile is refused, naming it,
// and nothing is written (TestFinetuneEndToEnd checks the original's numbers against the file).
func TestInputChangedDuringRun(t *testing.T) {
	orttest.Require(t)
	data := func(name string) string { return filepath.Join(testutil.Root(), "testdata", "fmnist-small", name) }
	src, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "demo", "cnn-bn-pretrained.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change []byte // written over the model when the first run starts; nil: none
		want   string
	}{
		{"unchanged", nil, ""},
		{"another model", other, "the input model changed during the run"},
		{"truncated", src[:len(src)/2], "the input model changed during the run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			model, out := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "ft")
			if err := os.WriteFile(model, src, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := finetune.Run(finetune.Config{
				Model:     model,
				TrainData: finetune.Data{Path: data("train-images-idx3-ubyte.gz"), Limit: 64},
				RegData:   finetune.Data{Path: data("reg-images-idx3-ubyte.gz"), Limit: 64},
				TestData:  finetune.Data{Path: data("test-images-idx3-ubyte.gz"), Limit: 64},
				Training:  xreg.TrainConfig{Epochs: 1, RegEvery: 1},
				Baseline:  finetune.BaselineNone,
				Out:       out,
				OnRun: func(string, int, int) {
					if tc.change != nil {
						if err := os.WriteFile(model, tc.change, 0o644); err != nil {
							t.Error(err)
						}
					}
				},
			})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range res.Report.Models {
					if m.Name == "original" && m.File != model {
						t.Errorf("the original is %s, want the input %s", m.File, model)
					}
				}
				return
			}
			if err == nil || !errors.Is(err, finetune.ErrInputChanged) || !strings.Contains(err.Error(), model+": "+tc.want) {
				t.Fatalf("error %v, want one naming %s: %s", err, model, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output folder was written")
			}
		})
	}
}
