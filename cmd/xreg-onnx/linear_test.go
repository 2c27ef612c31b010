package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/xreg/linear"
)

const diabetesCSV = "../../testdata/diabetes/diabetes.csv"

func TestLinearAndSplineCommands(t *testing.T) {
	dir := t.TempDir()
	// The spline example's data as CSV files.
	writeXY := func(name string, d linear.Data) string {
		var b strings.Builder
		b.WriteString("x,y\n")
		for i, x := range d.X {
			fmt.Fprintf(&b, "%g,%g\n", x[0], d.Y[i])
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tr, rg := writeXY("train.csv", linear.SplineSynthetic(0, 20)), writeXY("reg.csv", linear.SplineSynthetic(1, 20))
	plot := filepath.Join(dir, "fit.png")
	for _, c := range []struct {
		args    []string
		wantOut []string
		wantErr string
	}{
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--penalty", "l1", "--l1-rule", "project", "--steps", "3000", "--warmup", "500"},
			wantOut: []string{"cross-regularization", "grid search", "bmi", "(intercept)"}},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--steps", "2000", "--warmup", "100", "--plot", plot},
			wantOut: []string{"ridge α", "plot written"}},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--plot", plot}, wantErr: "output " + plot + " exists; pass --force to replace it, or choose another file with --plot"},
		{args: []string{"spline", "--data", tr, "--reg-data", rg, "--target", "y", "--x", "x", "--implicit", "--plot", plot, "--force"},
			wantOut: []string{"17 basis functions", "cross-regularization", "plot written"}},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "nope"}, wantErr: `no column "nope"`},
		{args: []string{"inject", "--dry-run", "--norm", "l2", "--where", "Gemm", "../../testdata/models/cnn-bn.onnx"},
			wantOut: []string{"xreg.norm.fc.Gemm.log_rho  norm l2", "0 noise, 1 weight-norm and 0 augmentation parameters"}},
		{args: []string{"inject", "--dry-run", "--norm", "l1", "../../testdata/models/cnn-bn.onnx"}, wantErr: `--norm "l1": is not supported on ONNX weights`},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--penalty", "l3"}, wantErr: `--penalty "l3"`},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--reg-fraction", "0"}, wantErr: "--reg-fraction"},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--steps", "0"}, wantErr: "--steps 0: want a value in [1,"},
		{args: []string{"linear", "--data", diabetesCSV, "--target", "y", "--l1-rule", "project"}, wantErr: "--l1-rule needs --penalty l1"},
		{args: []string{"spline", "--data", tr, "--target", "y", "--x", "z"}, wantErr: `--x: no column "z"`},
		{args: []string{"spline", "--data", tr, "--target", "y", "--x", "x", "--breaks", "1"}, wantErr: "--breaks 1"},
	} {
		var out bytes.Buffer
		err := runApp(context.Background(), &out, c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		for _, s := range c.wantOut {
			if !strings.Contains(out.String(), s) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, s, out.String())
			}
		}
	}
	if fi, err := os.Stat(plot); err != nil || fi.Size() == 0 {
		t.Errorf("plot not written: %v", err)
	}
}
