package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/xreg/linear"
)

// tabularFlags are the data and fit flags shared by the linear and spline commands.
func tabularFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "training CSV with a header row (numeric columns)", Required: true},
		&cli.StringFlag{Name: "target", Usage: "the column to predict", Required: true},
		&cli.Float64Flag{Name: "reg-fraction", Value: 0.2, Usage: "fraction of --data held out as the regularization set (0 < F < 1; ignored with --reg-data)"},
		&cli.StringFlag{Name: "reg-data", Usage: "regularization-set CSV (same columns) instead of --reg-fraction"},
		&cli.StringFlag{Name: "test-data", Usage: "test CSV (same columns): its MSE is reported"},
		&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed of the --reg-fraction split (math/rand/v2 PCG)"},
		&cli.IntFlag{Name: "steps", Value: linear.DefaultSettings().Steps, Usage: "full-batch training steps (> 0)"},
		&cli.IntFlag{Name: "warmup", Value: linear.DefaultSettings().Warmup, Usage: "training steps before the first norm update (≥ 0)"},
		&cli.IntFlag{Name: "reg-every", Value: linear.DefaultSettings().RegEvery, Usage: "one norm update every N training steps (> 0)"},
		&cli.Float64Flag{Name: "reg-lr", Value: linear.DefaultSettings().RegLR, Usage: "norm step as a fraction of 1/curvature of the regularization loss (> 0)"},
		&cli.StringFlag{Name: "plot", Usage: "write a PNG: the coefficient path against the grid search (linear) or the fit (spline)"},
		forceFlag(),
	}
}

// tabularData reads the training, regularization and (optional) test sets.
func tabularData(c *cli.Context, cmd string) (train, reg, test linear.Data, err error) {
	data, err := linear.ReadCSV(c.String("data"), c.String("target"))
	if err != nil {
		return train, reg, test, fmt.Errorf("%s: --data: %w", cmd, err)
	}
	if p := c.String("reg-data"); p != "" {
		train = data
		if reg, err = linear.ReadCSV(p, c.String("target")); err != nil {
			return train, reg, test, fmt.Errorf("%s: --reg-data: %w", cmd, err)
		}
	} else if train, reg, err = linear.SplitFraction(data, c.Float64("reg-fraction"), c.Uint64("seed")); err != nil {
		return train, reg, test, fmt.Errorf("%s: --reg-fraction: %w", cmd, err)
	}
	if reg.Dim() != train.Dim() {
		return train, reg, test, fmt.Errorf("%s: --reg-data has %d feature columns, --data %d", cmd, reg.Dim(), train.Dim())
	}
	if p := c.String("test-data"); p != "" {
		if test, err = linear.ReadCSV(p, c.String("target")); err != nil {
			return train, reg, test, fmt.Errorf("%s: --test-data: %w", cmd, err)
		}
		if test.Dim() != train.Dim() {
			return train, reg, test, fmt.Errorf("%s: --test-data has %d feature columns, --data %d", cmd, test.Dim(), train.Dim())
		}
	}
	return train, reg, test, nil
}

func tabularSettings(c *cli.Context) linear.Settings {
	s := linear.DefaultSettings()
	s.Steps, s.Warmup, s.RegEvery, s.RegLR = c.Int("steps"), c.Int("warmup"), c.Int("reg-every"), c.Float64("reg-lr")
	s.Implicit = c.Bool("implicit")
	return s
}

// checkPlot applies the overwrite policy to --plot before any work is done: never one of the
// CSV inputs, and an existing file only with --force.
func checkPlot(c *cli.Context, cmd string) error {
	p := c.String("plot")
	if p == "" {
		return nil
	}
	return checkOutputsOf(c, cmd, "--plot", []string{p}, c.String("data"), c.String("reg-data"), c.String("test-data"))
}

func writePlot(c *cli.Context, cmd string, draw func(io.Writer) error) error {
	p := c.String("plot")
	if p == "" {
		return nil
	}
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		return fmt.Errorf("%s: --plot: %w", cmd, err)
	}
	if err := atomicfile.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%s: --plot: %w", cmd, err)
	}
	fmt.Fprintf(c.App.Writer, "plot written to %s\n", p)
	return nil
}

func init() {
	commands = append(commands, &cli.Command{
		Name:  "linear",
		Usage: "fit a linear model on tabular data with a cross-regularized L2 or L1 norm, beside the grid-searched ridge or lasso",
		Description: "The regularization set moves the norm of the weights; the training set moves the weights at constant norm " +
			"(Brito 2025, §3.2–3.3). Features and target are standardized with training statistics. The baseline is ridge over " +
			"1000 α in [1e-5, 1e5] (L2) or the lasso path over 50 α in [1e-4, 1] (L1), chosen on the same regularization set.",
		Flags: append(tabularFlags(),
			&cli.StringFlag{Name: "penalty", Value: "l2", Usage: "l2 or l1"},
			&cli.StringFlag{Name: "l1-rule", Value: "tangent", Usage: "L1 training step: tangent (the paper's gradient split) or project (exact projection on the L1 ball)"},
			&cli.BoolFlag{Name: "implicit", Usage: "move the norm by its total derivative along the ridge or lasso path (implicit differentiation) instead of the paper's partial derivative"},
		),
		Action: runLinear,
	})
}

func runLinear(c *cli.Context) error {
	const cmd = "linear"
	if c.NArg() != 0 {
		return fmt.Errorf("%s: unexpected argument %q (data comes from --data)", cmd, c.Args().First())
	}
	pen := c.String("penalty")
	if pen != "l1" && pen != "l2" {
		return fmt.Errorf("%s: --penalty %q: expected l1 or l2", cmd, pen)
	}
	rule, err := linear.ParseL1Rule(c.String("l1-rule"))
	if err != nil {
		return fmt.Errorf("%s: --l1-rule: %w", cmd, err)
	}
	if pen == "l2" && c.IsSet("l1-rule") {
		return fmt.Errorf("%s: --l1-rule needs --penalty l1", cmd)
	}
	if err := checkPlot(c, cmd); err != nil {
		return err
	}
	train, reg, test, err := tabularData(c, cmd)
	if err != nil {
		return err
	}
	st := linear.FitStandardizer(train, true)
	trs, rgs := st.Apply(train), st.Apply(reg)
	s := tabularSettings(c)
	var (
		fit  linear.Fit
		grid linear.GridFit
		note string
	)
	if pen == "l2" {
		if fit, err = linear.CrossL2(trs, rgs, s); err == nil {
			grid, err = linear.RidgeGrid(trs, rgs, linear.LogSpace(1e-5, 1e5, 1000))
		}
		if err == nil {
			note = fmt.Sprintf("grid: ridge α = %.4g of 1000 in [1e-5, 1e5]", grid.Alpha[grid.Best])
		}
	} else {
		s.Momentum = linear.DefaultL1Settings().Momentum
		var f1 linear.L1Fit
		if f1, err = linear.CrossL1(trs, rgs, s, rule); err == nil {
			fit = f1.Fit
			if grid, err = linear.LassoPath(trs, rgs, linear.LogSpace(1e-4, 1, 50)); err == nil {
				note = fmt.Sprintf("grid: lasso α = %.4g of 50 in [1e-4, 1]; L1 rule %s, ‖w‖₁ drift %.3g", grid.Alpha[grid.Best], rule, f1.Drift)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	xm, gm := st.Unstandardize(fit.W), st.Unstandardize(grid.W())
	w := c.App.Writer
	fmt.Fprintf(w, "%d training, %d regularization rows, %d features; %s\n", train.Len(), reg.Len(), train.Dim(), note)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tnorm (std. units)\ttrain MSE\tval MSE\ttest MSE\tnon-zero\tcompute\t")
	row := func(name string, wstd []float64, m linear.Model, compute string) {
		testMSE := "–"
		if test.Len() > 0 {
			testMSE = fmt.Sprintf("%.5g", m.MSE(test))
		}
		fmt.Fprintf(tw, "%s\t%.5g\t%.5g\t%.5g\t%s\t%d\t%s\t\n", name, normOf(pen, wstd), m.MSE(train), m.MSE(reg), testMSE, m.NonZero(), compute)
	}
	row("cross-regularization", fit.W, xm, fmt.Sprintf("%d gradients, %v", fit.GradEvals, fit.Elapsed.Round(1e6)))
	row("grid search", grid.W(), gm, fmt.Sprintf("%d fits, %v", len(grid.Alpha), grid.Elapsed.Round(1e6)))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "coefficient\tcross-regularization\tgrid search")
	fmt.Fprintf(tw, "(intercept)\t%.6g\t%.6g\n", xm.Intercept, gm.Intercept)
	for j, n := range train.Names {
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\n", n, xm.Coef[j], gm.Coef[j])
	}
	tw.Flush()
	return writePlot(c, cmd, func(out io.Writer) error {
		return linear.PlotPath(out, grid, fit.W, pen == "l1", train.Names, "Coefficient path (grid) and cross-regularized coefficients")
	})
}

func normOf(pen string, w []float64) float64 {
	var s float64
	for _, v := range w {
		if pen == "l1" {
			s += max(v, -v)
		} else {
			s += v * v
		}
	}
	if pen == "l1" {
		return s
	}
	return math.Sqrt(s)
}
