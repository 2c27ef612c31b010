package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

var (
	fmnistTest = filepath.Join("..", "..", "testdata", "fmnist-small", "test-images-idx3-ubyte.gz")
	fmnistReg  = filepath.Join("..", "..", "testdata", "fmnist-small", "reg-images-idx3-ubyte.gz")
)

// runExportCLI runs `xreg-onnx args…` and returns what it printed.
func runExportCLI(args ...string) (string, error) {
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(flagsFirst(app, append([]string{"xreg-onnx"}, args...)))
	return out.String(), err
}

// exportInjectedFixture writes the fixture model, injected with default options, to a fresh folder
// and returns its path.
func exportInjectedFixture(t *testing.T, name string) string {
	t.Helper()
	m, err := onnximport.Load(filepath.Join("..", "..", "testdata", "models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	m.SetMetadata("xreg.train.epochs", "3")
	p := filepath.Join(t.TempDir(), name+".xreg.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func readReportJSON(t *testing.T, dir string) *calib.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r calib.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestExportCommand(t *testing.T) {
	orttest.Require(t)
	in := exportInjectedFixture(t, "cnn-bn")
	log := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(log, []byte(`{"kind":"reg","step":2,"epoch":0,"sigma":{"bn1":0.13,"bn2":0.14}}
{"kind":"epoch","epoch":1,"step":4}
{"kind":"reg","step":4,"epoch":1,"sigma":{"bn1":0.15,"bn2":0.12}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		name   string
		args   []string // with OUT and REPORT standing for the output file and report folder
		method string
		models []string // in the report, when there is one
		print  []string
	}{
		{"deterministic with report", []string{in, "-o", "OUT", "--report", "REPORT", "--data", fmnistTest, "--limit", "100", "--log", log},
			export.Deterministic, []string{"deterministic"},
			[]string{"deterministic export, output \"logits\" holds logits; removed 8 injected nodes and 2 initializers",
				"noise additive at /bn1/BatchNormalization: σ = 0.1353", "report.html"}},
		{"temperature, flags first", []string{"--temperature", "--reg-data", fmnistReg, "--reg-limit", "100", "-o", "OUT", in},
			export.Temperature, nil, []string{"temperature export", "fitted on 100 regularization examples"}},
		{"temperature with report", []string{in, "--output=OUT", "--temperature", "--reg-data", fmnistReg, "--reg-limit", "100",
			"--report", "REPORT", "--data", fmnistTest, "--limit", "50", "--bins", "10"},
			export.Temperature, []string{"deterministic", "temperature"}, []string{"temperature T = "}},
		{"mc", []string{"--mc", "3", in, "-o", "OUT", "--seed", "5"}, export.MC, nil,
			[]string{"mc-3 export, output \"logits\" holds probabilities", "3 frozen noise draws (seed 5)"}},
	} {
		t.Run(test.name, func(t *testing.T) {
			dir := t.TempDir()
			out, report := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "report")
			args := make([]string, len(test.args))
			for i, a := range test.args {
				a = strings.ReplaceAll(a, "OUT", out)
				args[i] = strings.ReplaceAll(a, "REPORT", report)
			}
			printed, err := runExportCLI(append([]string{"export"}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, printed)
			}
			for _, p := range test.print {
				if !strings.Contains(printed, p) {
					t.Errorf("output does not mention %q:\n%s", p, printed)
				}
			}
			m, err := onnximport.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Metadata(export.MetadataMethod); got != test.method {
				t.Errorf("exported method %q, want %q", got, test.method)
			}
			if got, _ := m.Metadata("xreg.train.epochs"); got != "3" {
				t.Errorf("training provenance xreg.train.epochs = %q, want it copied", got)
			}
			if got, _ := m.Metadata(export.MetadataVersion); got != version {
				t.Errorf("version %q, want %q", got, version)
			}
			if test.method == export.MC {
				if k, _ := m.Metadata(export.MetadataMC); k != "3" {
					t.Errorf("metadata mc %q, want 3", k)
				}
			}
			if test.method == export.Temperature {
				temp, _ := m.Metadata(export.MetadataTemperature)
				if v, err := strconv.ParseFloat(temp, 64); err != nil || !(v > 0) {
					t.Errorf("metadata temperature %q", temp)
				}
			}
			if test.models == nil {
				if _, err := os.Stat(report); err == nil {
					t.Error("a report was written without --report")
				}
				return
			}
			r := readReportJSON(t, report)
			var names []string
			for _, rm := range r.Models {
				names = append(names, rm.Name)
			}
			if strings.Join(names, ",") != strings.Join(test.models, ",") {
				t.Errorf("report models %v, want %v", names, test.models)
			}
			if r.Provenance["xreg.train.epochs"] == "" && r.Provenance[test.models[len(test.models)-1]+": xreg.train.epochs"] == "" {
				t.Errorf("report provenance lacks the training provenance: %v", r.Provenance)
			}
			for _, f := range []string{"report.md", "report.html", "reliability-" + test.models[0] + ".png"} {
				if _, err := os.Stat(filepath.Join(report, f)); err != nil {
					t.Error(err)
				}
			}
			_, err = os.Stat(filepath.Join(report, "sigma.png"))
			if hasLog := strings.Contains(strings.Join(test.args, " "), "--log"); hasLog != (err == nil) || hasLog != (len(r.Trajectory) == 2) {
				t.Errorf("σ plot: %v, trajectory of %d points; want them exactly when --log is given", err, len(r.Trajectory))
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	orttest.Require(t)
	injected := exportInjectedFixture(t, "cnn-bn")
	plain := filepath.Join("..", "..", "testdata", "models", "cnn-bn.onnx")
	for _, test := range []struct {
		name string
		args []string // OUT stands for the output file
		want string
	}{
		{"not injected", []string{plain, "-o", "OUT"}, "export: ../../testdata/models/cnn-bn.onnx: model was not injected: it has no xreg.regs metadata"},
		{"two models", []string{injected, injected, "-o", "OUT"}, "export: expected one model file"},
		{"temperature without data", []string{"--temperature", injected, "-o", "OUT"}, "export: --temperature fits T on the regularization split: give it with --reg-data"},
		{"reg data without temperature", []string{injected, "-o", "OUT", "--reg-data", fmnistReg}, "export: --reg-data is only used by --temperature"},
		{"report without data", []string{injected, "-o", "OUT", "--report", "r"}, "export: --report needs labelled test data (--data)"},
		{"data without report", []string{injected, "-o", "OUT", "--data", fmnistTest}, "export: --data and --log are only used by --report"},
		{"mc and temperature", []string{injected, "-o", "OUT", "--mc", "2", "--temperature", "--reg-data", fmnistReg}, "--mc and --temperature exclude each other"},
		{"negative mc", []string{injected, "-o", "OUT", "--mc", "-2"}, "export: --mc -2: want a value in [0, 256]"},
		{"missing model", []string{"nowhere.onnx", "-o", "OUT"}, "onnximport: open nowhere.onnx: no such file or directory"},
		{"bad report data", []string{injected, "-o", "OUT", "--report", "r", "--data", plain}, "export: --data: dataset:"},
		{"wrong data shape", []string{injected, "-o", "OUT", "--temperature", "--reg-data", filepath.Join("..", "..", "dataset", "testdata", "cifar", "data_batch_1.bin")},
			"takes examples of shape [1 28 28] (784 values), the data's are [3 32 32] (3072 values)"},
	} {
		t.Run(test.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"export"}
			for _, a := range test.args {
				args = append(args, strings.ReplaceAll(a, "OUT", filepath.Join(dir, "model.onnx")))
			}
			printed, err := runExportCLI(args...)
			if err == nil {
				t.Fatalf("no error; printed:\n%s", printed)
			}
			if msg := err.Error(); !strings.Contains(msg, test.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q\nwant one line containing %q", msg, test.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("files left behind after the error: %v", entries)
			}
		})
	}
}

// TestExportDefaultOutput: without -o the export goes beside the input, named after the model (the
// .xreg and .trained parts dropped) and the method; an existing one needs --force.
func TestExportDefaultOutput(t *testing.T) {
	orttest.Require(t)
	injected := exportInjectedFixture(t, "cnn-bn") // <tmp>/cnn-bn.xreg.onnx
	dir := filepath.Dir(injected)
	trained := filepath.Join(dir, "cnn-bn.xreg.trained.onnx")
	data, err := os.ReadFile(injected)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trained, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{trained}, "cnn-bn.deterministic.onnx"},
		{[]string{"--mc", "2", trained}, "cnn-bn.mc-2.onnx"},
	} {
		if out, err := runExportCLI(append([]string{"export"}, test.args...)...); err != nil {
			t.Fatalf("export %v: %v\n%s", test.args, err, out)
		}
		if _, err := onnximport.Load(filepath.Join(dir, test.want)); err != nil {
			t.Errorf("export %v: %v", test.args, err)
		}
	}
	if _, err := runExportCLI("export", trained); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over an existing default output: err = %v, want one naming --force", err)
	}
}
