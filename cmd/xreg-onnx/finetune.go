package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/finetune"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "finetune",
		Usage:     "the whole journey in one command: inject, cross-regularized and plain fine-tuning, exports, and a report saying which model to ship",
		ArgsUsage: "model.onnx",
		Description: `Fine-tunes a pretrained ONNX classifier on --data and compares, on --test-data:
  original, original+T     the input model, and with a temperature fitted on the regularization set
  plain, plain+T           a plain fine-tune (no noise) with the same epochs, batch and optimizer
  grid, grid+T             with --baseline grid: the best of 7 fixed-σ runs (σ ∈ {0, 0.25, … 8})
  xreg, xreg+T, xreg-mcK   cross-regularized (σ learned on the regularization set): noise removed,
                           temperature folded, frozen K-draw Monte-Carlo ensemble
The regularization set (--reg-data, or --reg-fraction of --data) trains φ, fits the temperatures
and chooses the model to ship: the simplest whose regularization-set NLL is within --tolerance of
the lowest. The test data only measures. Everything goes into one folder (-o, default
<model>.finetune beside the input): report.html/.md/.json, models/, logs/. Flags may come before or
after the model file. The single steps are the commands inject, train, export and report.

Example:
  xreg-onnx finetune --data train-images-idx3-ubyte.gz --reg-data reg-images-idx3-ubyte.gz \
      --test-data t10k-images-idx3-ubyte.gz --epochs 8 model.onnx`,
		Flags: append(append(append(trainDataFlags(),
			&cli.StringFlag{Name: "test-data", Usage: "labelled test data `PATH` (same formats as --data), used only to measure", Required: true},
			&cli.StringFlag{Name: "test-labels", Usage: "labels `FILE` for --test-data when it cannot be derived (IDX, .npy)"},
			&cli.IntFlag{Name: "test-limit", Usage: "use only the first `N` test examples (0: all)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `DIR` (default: <model>.finetune beside the input)"},
			forceFlag(),
			&cli.StringFlag{Name: "baseline", Value: finetune.BaselinePlain, Usage: "`KIND` of baseline: none, plain (a fine-tune without noise, same budget) or grid (plain and the fixed-σ grid: 7 runs)"},
			&cli.IntFlag{Name: "export-mc", Usage: "`K` of the frozen Monte-Carlo export (0: --mc, -1: none)"},
			&cli.Float64Flag{Name: "tolerance", Value: finetune.DefaultTolerance, Usage: "NLL margin `X` within which the recommendation prefers the simpler model"},
			&cli.IntFlag{Name: "bins", Value: calib.DefaultBins, Usage: "confidence `BINS` of ECE and the reliability diagrams"},
		), trainingFlags()...), append(injectFlags(),
			preprocessFlags("; applied to --data, --reg-data and --test-data and recorded in every model finetune writes (default: what the model records)")...)...),
		Action: runFinetune,
	})
}

func runFinetune(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return fmt.Errorf("finetune: expected a model file (xreg-onnx finetune [flags] model.onnx)")
	case c.NArg() > 1:
		return fmt.Errorf("finetune: expected one model file, got %d arguments %q", c.NArg(), c.Args().Slice())
	case c.IsSet("reg-data") && c.IsSet("reg-fraction"):
		return fmt.Errorf("finetune: give --reg-data or --reg-fraction, not both")
	}
	model := c.Args().First()
	io, err := injectOptions(c)
	if err != nil {
		return withPrefix("finetune", err)
	}
	var spec *preprocess.Spec // nil: finetune.Run reads what the model records
	if preprocessSet(c) {
		spec, err = preprocessSpec(c, "finetune", model, nil) // the flags over what the model records
	}
	if err != nil {
		return err
	}
	out := c.String("output")
	if out == "" {
		out = strings.TrimSuffix(model, filepath.Ext(model)) + ".finetune"
	}
	cfg := finetune.Config{
		Model:       model,
		TrainData:   finetune.Data{Path: c.String("data"), Labels: c.String("labels"), Limit: c.Int("limit")},
		RegData:     finetune.Data{Path: c.String("reg-data"), Labels: c.String("reg-labels"), Limit: c.Int("reg-limit")},
		RegFraction: c.Float64("reg-fraction"),
		TestData:    finetune.Data{Path: c.String("test-data"), Labels: c.String("test-labels"), Limit: c.Int("test-limit")},
		Preprocess:  spec,
		Inject:      io,
		Training:    trainConfig(c),
		Baseline:    c.String("baseline"),
		ExportMC:    c.Int("export-mc"),
		Tolerance:   c.Float64("tolerance"),
		Bins:        c.Int("bins"),
		Out:         out,
		Force:       c.Bool("force"),
		Version:     version,
		Build:       kernels.Backend(),
	}
	if cfg.Tolerance == 0 && c.IsSet("tolerance") {
		cfg.Tolerance = 1e-12 // 0 given: only an exact tie prefers the simpler model
	}
	w := c.App.ErrWriter
	var prog *progress
	cfg.OnRun = func(name string, i, n int) {
		if prog != nil {
			prog.finish()
		}
		fmt.Fprintf(w, "finetune: run %d of %d: %s\n", i, n, name)
		prog = newProgress(w, cfg.Training.Epochs, "")
	}
	cfg.Training.Hooks = []xreg.Hooks{{Name: "progress",
		OnStart:     func(p xreg.Progress) error { return prog.start(p) },
		OnStep:      func(p xreg.Progress) error { return prog.step(p) },
		OnRegUpdate: func(u xreg.RegUpdate) error { return prog.regUpdate(u) },
		OnEpoch:     func(st *xreg.EpochStats) error { return prog.epoch(st) },
	}}
	res, err := finetune.Run(cfg)
	if prog != nil {
		prog.finish()
	}
	if err != nil {
		// A setting is named by its flag; the frozen ensemble's K is --export-mc here.
		var oe *finetune.OutputExistsError
		if errors.As(err, &oe) {
			return fmt.Errorf("finetune: output folder %s exists; use --force to replace it or -o to choose another", oe.Out)
		}
		var se *preprocess.SpecError
		if spec != nil && errors.As(err, &se) {
			return preprocessError("finetune", se) // only the flags' spec reaches Run unparsed
		}
		return exportErrorFlags("finetune", injectError("finetune", configError("finetune", err)), map[string]string{"MC": "export-mc"})
	}
	printSummary(c.App.Writer, res.Report)
	fmt.Fprintf(c.App.Writer, "wrote %s (models in %s; %.0f s)\n", filepath.Join(out, "report.html"), filepath.Join(out, "models"), res.Seconds)
	return nil
}

// printSummary prints the short table of a finetune report and its recommendation.
func printSummary(w io.Writer, r *calib.Report) {
	ship := ""
	if r.Recommendation != nil {
		ship = r.Recommendation.Model
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\treg NLL\ttest accuracy\ttest NLL\ttest ECE\t\t\n")
	for _, m := range r.Models {
		sel := "–"
		if m.Selection != nil {
			sel = fmt.Sprintf("%.4f", m.Selection.NLL)
		}
		mark := ""
		if m.Name == ship {
			mark = "◀ ship"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.4f\t%.4f\t%s\t\n", m.Name, sel, m.Metrics.Accuracy, m.Metrics.NLL, m.Metrics.ECE, mark)
	}
	tw.Flush()
	if rec := r.Recommendation; rec != nil {
		fmt.Fprintf(w, "\nShip %s. %s\nRule: %s\n", rec.Model, rec.Reason, rec.Rule)
	}
}
