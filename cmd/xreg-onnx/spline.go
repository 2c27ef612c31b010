package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/xreg/linear"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "spline",
		Usage: "fit a cubic smoothing spline y = f(x) whose smoothness ∫f''² is learned on the regularization set",
		Description: "The CSV holds two columns used: --x and --target. Training moves the B-spline coefficients on a level set of " +
			"constant ∫f''²; the regularization set moves that level (Brito 2025, §5.3). The baseline is the closed-form smoothing " +
			"spline over 1000 λ in [1e-8, 1e4] (penalty scaled to unit trace), chosen on the same regularization set.",
		Flags: append(tabularFlags(),
			&cli.StringFlag{Name: "x", Usage: "the input column", Required: true},
			&cli.IntFlag{Name: "breaks", Value: 15, Usage: "breakpoints of the cubic B-spline basis, ends included (≥ 2; breaks + 2 functions)"},
			&cli.BoolFlag{Name: "implicit", Usage: "move the smoothness by its total derivative along the path of training optima instead of the paper's partial derivative"},
		),
		Action: runSpline,
	})
}

// onlyColumn keeps the feature named col.
func onlyColumn(d linear.Data, col string) (linear.Data, error) {
	j := -1
	for i, n := range d.Names {
		if n == col {
			j = i
		}
	}
	if j < 0 {
		return d, fmt.Errorf("no column %q", col)
	}
	out := linear.Data{X: make([][]float64, d.Len()), Y: d.Y, Names: []string{col}}
	for i, x := range d.X {
		out.X[i] = []float64{x[j]}
	}
	return out, nil
}

func runSpline(c *cli.Context) error {
	const cmd = "spline"
	if c.NArg() != 0 {
		return fmt.Errorf("%s: unexpected argument %q (data comes from --data)", cmd, c.Args().First())
	}
	if c.Int("breaks") < 2 {
		return fmt.Errorf("%s: --breaks %d: need at least 2", cmd, c.Int("breaks"))
	}
	if err := checkPlot(c, cmd); err != nil {
		return err
	}
	train, reg, test, err := tabularData(c, cmd)
	if err != nil {
		return err
	}
	sets := []*linear.Data{&train, &reg}
	if test.Len() > 0 {
		sets = append(sets, &test)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, d := range sets {
		if *d, err = onlyColumn(*d, c.String("x")); err != nil {
			return fmt.Errorf("%s: --x: %w", cmd, err)
		}
		for _, x := range d.X {
			lo, hi = math.Min(lo, x[0]), math.Max(hi, x[0])
		}
	}
	b, err := linear.NewBasis(lo, hi, c.Int("breaks"))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fit, err := linear.CrossSpline(b, train, reg, tabularSettings(c))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	grid, err := linear.SplineGrid(b, train, reg, linear.LogSpace(1e-8, 1e4, 1000))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "%d training, %d regularization points on [%g, %g], %d basis functions; grid: λ = %.4g\n", train.Len(), reg.Len(), lo, hi, b.Len(), grid.Alpha[grid.Best])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\t√∫f''²\ttrain MSE\tval MSE\ttest MSE\tcompute\t")
	row := func(name string, coef []float64, compute string) {
		testMSE := "–"
		if test.Len() > 0 {
			testMSE = fmt.Sprintf("%.5g", b.MSE(coef, test))
		}
		fmt.Fprintf(tw, "%s\t%.5g\t%.5g\t%.5g\t%s\t%s\t\n", name, math.Sqrt(b.Roughness(coef)), b.MSE(coef, train), b.MSE(coef, reg), testMSE, compute)
	}
	row("cross-regularization", fit.W, fmt.Sprintf("%d gradients, %v", fit.GradEvals, fit.Elapsed.Round(1e6)))
	row("grid search", grid.W(), fmt.Sprintf("%d fits, %v", grid.Fits, grid.Elapsed.Round(1e6)))
	tw.Flush()
	return writePlot(c, cmd, func(out io.Writer) error {
		return linear.PlotSpline(out, b, train, reg, nil, []linear.SplineCurve{{Name: "grid search", Coef: grid.W()}, {Name: "cross-regularization", Coef: fit.W}}, "Smoothing spline")
	})
}
