package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "export",
		Usage:     "write a deterministic ONNX model from a trained (or injected) model, optionally calibrated, and a calibration report",
		ArgsUsage: "trained.xreg.onnx",
		Description: `Removes every injected noise and augmentation node and writes the trained parameters into the
original graph: input and output names, opsets, node names, doc strings and other metadata are kept;
the learned σ and the training provenance are recorded in metadata_props. Any onnxruntime serves it.
Input augmentation is always dropped (test-time augmentation is not exported).

Two deterministic ways to keep some of cross-regularization's calibration:
  --temperature  fit a temperature T on --reg-data and fold it into the graph (logits / T)
  --mc K         a fixed ensemble: K noise draws frozen as constants (seeded by --seed), the
                 output becomes the mean of the K passes' probabilities

With --report, the exported model (and, for --temperature or --mc, the plain deterministic one
beside it) is measured on --data and report.json, report.md and report.html are written there.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "exported model `FILE` (default: <model>.<method>.onnx beside the input, <model> without .xreg/.trained, <method> deterministic, temperature or mc-K)"},
			&cli.BoolFlag{Name: "temperature", Usage: "fit a temperature on --reg-data and fold it into the graph"},
			&cli.StringFlag{Name: "reg-data", Usage: "regularization data `PATH` for --temperature (same formats as train's --data)"},
			&cli.StringFlag{Name: "reg-labels", Usage: "labels `FILE` for --reg-data when it cannot be derived (IDX, .npy)"},
			&cli.IntFlag{Name: "reg-limit", Usage: "use only the first `N` regularization examples (0: all)"},
			&cli.IntFlag{Name: "mc", Usage: "build a deterministic ensemble of `K` frozen noise draws (0: off)"},
			&cli.Int64Flag{Name: "seed", Usage: "seed of the frozen --mc draws"},
			&cli.StringFlag{Name: "scores", Usage: "graph output `NAME` holding the class scores (default: the only output)"},
			&cli.StringFlag{Name: "report", Usage: "write a calibration report on --data into `DIR`"},
			&cli.StringFlag{Name: "data", Usage: "labelled test data `PATH` for --report"},
			&cli.StringFlag{Name: "labels", Usage: "labels `FILE` for --data when it cannot be derived (IDX, .npy)"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first `N` test examples (0: all)"},
			&cli.StringFlag{Name: "log", Usage: "training log `FILE` (JSONL) whose σ trajectory the report plots"},
			&cli.IntFlag{Name: "bins", Value: calib.DefaultBins, Usage: "confidence `BINS` of the report's ECE and reliability diagrams"},
			forceFlag(),
		},
		Action: runExport,
	})
}

func runExport(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("export: expected one model file (the output of xreg-onnx train), got %d arguments %q", c.NArg(), c.Args().Slice())
	}
	path, out := c.Args().First(), c.String("output")
	if out == "" {
		stem := strings.TrimSuffix(path, filepath.Ext(path))
		stem = strings.TrimSuffix(strings.TrimSuffix(stem, ".trained"), ".xreg")
		out = stem + "." + methodNameOf(c.Int("mc"), c.Bool("temperature")) + ".onnx"
	}
	switch {
	case c.Bool("temperature") && c.String("reg-data") == "":
		return fmt.Errorf("export: --temperature fits T on the regularization split: give it with --reg-data")
	case !c.Bool("temperature") && c.String("reg-data") != "":
		return fmt.Errorf("export: --reg-data is only used by --temperature")
	case c.String("report") != "" && c.String("data") == "":
		return fmt.Errorf("export: --report needs labelled test data (--data)")
	case c.String("report") == "" && (c.String("data") != "" || c.String("log") != ""):
		return fmt.Errorf("export: --data and --log are only used by --report")
	}
	outputs := []string{out}
	if dir := c.String("report"); dir != "" {
		names := []string{methodNameOf(c.Int("mc"), c.Bool("temperature"))}
		if c.Int("mc") > 0 || c.Bool("temperature") {
			names = append([]string{export.Deterministic}, names...)
		}
		outputs = append(outputs, reportOutputs(dir, names, c.String("log") != "")...)
	}
	if err := checkOutputs(c, "export", outputs, path, c.String("reg-data"), c.String("reg-labels"), c.String("data"),
		c.String("labels"), c.String("log")); err != nil {
		return err
	}
	m, err := onnximport.Load(path)
	if err != nil {
		return err
	}
	opt := export.Options{MC: c.Int("mc"), Seed: c.Int64("seed"), ScoreOutput: c.String("scores"), Version: version}
	if c.Bool("temperature") {
		opt.Calibration, err = dataset.Load(c.String("reg-data"), dataset.Options{Labels: c.String("reg-labels"), Limit: c.Int("reg-limit")})
		if err != nil {
			return fmt.Errorf("export: --reg-data: %w", dataError(err, "reg-labels"))
		}
	}
	var det *onnximport.Model // the plain deterministic export, for the report's comparison
	if c.String("report") != "" && (opt.Calibration != nil || opt.MC > 0) {
		det = m.Clone()
		if _, err := export.Apply(det, export.Options{ScoreOutput: opt.ScoreOutput, Version: version}); err != nil {
			return exportError("export: "+path, err)
		}
	}
	rep, err := export.Apply(m, opt)
	if err != nil {
		return exportError("export: "+path, err)
	}

	// Measure before writing anything, so that a bad --data leaves no half-made output.
	var report *calib.Report
	if dir := c.String("report"); dir != "" {
		set, err := loadReportData(c.String("data"), c.String("labels"), c.Int("limit"))
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		var models []reportModel
		if det != nil {
			models = append(models, reportModel{name: export.Deterministic, model: det})
		}
		models = append(models, reportModel{name: methodName(rep), path: out, model: m, provenance: true})
		report = &calib.Report{Title: "Calibration report: " + filepath.Base(out), Provenance: map[string]string{"trained model": path}}
		if err := measure(report, models, set, c.Int("bins")); err != nil {
			return withPrefix("export", err)
		}
		if err := addTrajectory(report, c.String("log")); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	if err := m.Save(out); err != nil {
		return err
	}
	printExport(c.App.Writer, rep, out)
	if report != nil {
		if err := calib.WriteReport(c.String("report"), report); err != nil {
			return err
		}
		printMetrics(c.App.Writer, report)
		fmt.Fprintf(c.App.Writer, "wrote %s\n", filepath.Join(c.String("report"), "report.html"))
	}
	return nil
}

// withPrefix prefixes err with the command's name unless it already starts with it.
func withPrefix(cmd string, err error) error {
	if strings.HasPrefix(err.Error(), cmd+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// methodName names the export in reports: "deterministic", "temperature" or "mc-K".
func methodName(rep *export.Report) string {
	return methodNameOf(rep.MC, rep.Method == export.Temperature)
}

// methodNameOf is methodName from the flags, before the export is made.
func methodNameOf(mc int, temperature bool) string {
	switch {
	case mc > 0:
		return fmt.Sprintf("mc-%d", mc)
	case temperature:
		return export.Temperature
	}
	return export.Deterministic
}

func printExport(w io.Writer, rep *export.Report, out string) {
	fmt.Fprintf(w, "wrote %s: %s export, output %q holds %s; removed %d injected nodes and %d initializers\n",
		out, methodName(rep), rep.ScoreOutput, rep.Output, len(rep.Removed), len(rep.RemovedInitializers))
	switch rep.Method {
	case export.Temperature:
		how := "given"
		if rep.Fitted {
			how = fmt.Sprintf("fitted on %d regularization examples", rep.CalibrationSize)
		}
		fmt.Fprintf(w, "  temperature T = %.4f (%s): logits / T\n", rep.Temperature, how)
	case export.MC:
		fmt.Fprintf(w, "  %d frozen noise draws (seed %d), probabilities averaged\n", rep.MC, rep.Seed)
	}
	for _, r := range rep.Regs {
		if len(r.Value) > 0 { // empty when trained with --regs off (see the note)
			rate := ""
			if len(r.DropoutRate) == 1 {
				rate = fmt.Sprintf(" (Gaussian dropout: rate %.4g, was %.4g)", r.DropoutRate[0], inject.DropoutRate(math.Exp(r.Init)))
			}
			fmt.Fprintf(w, "  %s %s at %s: %s%s\n", r.Kind, r.Mode, r.Point, learnedSummary(r), rate)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// learnedSummary describes a learned value: "σ = 0.1353" or "σ in [0.1, 0.3] (mean 0.2, 32 values)".
func learnedSummary(r export.Learned) string {
	vals, what := r.Value, "magnitude"
	switch r.Kind {
	case "noise":
		vals, what = r.Sigma, "σ"
	case "norm":
		vals, what = []float64{r.Norm}, "ρ = ‖W‖"
	}
	if len(vals) == 1 {
		return fmt.Sprintf("%s = %.4g", what, vals[0])
	}
	lo, hi, sum := vals[0], vals[0], 0.0
	for _, v := range vals {
		lo, hi, sum = min(lo, v), max(hi, v), sum+v
	}
	return fmt.Sprintf("%s in [%.4g, %.4g] (mean %.4g, %d values)", what, lo, hi, sum/float64(len(vals)), len(vals))
}

// provenanceOf returns the xreg metadata of a model worth showing in a report, the learned σ
// summarised.
func provenanceOf(meta map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range meta {
		switch {
		case k == export.MetadataRegs:
			for _, r := range parseLearned(v) {
				if len(r.Value) > 0 {
					out["σ "+r.Point] = learnedSummary(r)
				}
			}
		case strings.HasPrefix(k, "xreg.train.") || strings.HasPrefix(k, "xreg.export."):
			out[k] = v
		}
	}
	return out
}
