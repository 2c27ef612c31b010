// Command xreg-normbench runs the norm-based problems of the benchmark protocol
// (../shared/PROTOCOL.md, "Norm-based problems") and the spline example, and prints a Markdown
// table: cross-regularization beside the grid-searched baseline, per seed or split.
//
//	go run ./cmd/xreg-normbench -problem ridge                 # synthetic ridge, seeds 0–2
//	go run ./cmd/xreg-normbench -problem lasso                 # diabetes lasso, splits 0–4
//	go run ./cmd/xreg-normbench -problem spline -plot docs/spline-fit.png
//
// Columns: validation (regularization-set) MSE, its ratio to the grid's, test MSE, the norm,
// the number of non-zero coefficients, and the compute (fits or full-batch gradient
// evaluations, wall time on one core).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/xreg/linear"
)

func main() {
	problem := flag.String("problem", "", "ridge, lasso or spline")
	plotPath := flag.String("plot", "", "write a PNG (spline: the fits of seed 0; lasso: the path of split 0)")
	diabetes := flag.String("data", "testdata/diabetes/diabetes.csv", "the diabetes CSV (lasso)")
	flag.Parse()
	var err error
	switch *problem {
	case "ridge":
		err = ridge(os.Stdout)
	case "lasso":
		err = lasso(os.Stdout, *diabetes, *plotPath)
	case "spline":
		err = spline(os.Stdout, *plotPath)
	default:
		err = fmt.Errorf("-problem %q: expected ridge, lasso or spline", *problem)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "xreg-normbench: %v\n", err)
		os.Exit(1)
	}
}

type row struct {
	id, method            string
	val, test, norm, grid float64
	nonZero               int
	compute               string
}

func header(w io.Writer, idName string) {
	fmt.Fprintf(w, "| %s | method | val MSE | val / grid | test MSE | norm | non-zero | compute |\n", idName)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|")
}

func (r row) print(w io.Writer) {
	fmt.Fprintf(w, "| %s | %s | %.4g | %.4f | %.4g | %.4g | %d | %s |\n", r.id, r.method, r.val, r.val/r.grid, r.test, r.norm, r.nonZero, r.compute)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func ridge(w io.Writer) error {
	fmt.Fprintln(w, "Synthetic ridge (PROTOCOL.md): n_train = n_reg = 50, n_test = 2000, 100 features; grid = 1000 α in [1e-5, 1e5]. Norm = ‖w‖₂ on centred features.")
	fmt.Fprintln(w)
	header(w, "seed")
	for _, variant := range []bool{false, true} {
		for seed := range uint64(3) {
			tr, rg, te := linear.RidgeSynthetic(seed, 50, 50, 2000, variant)
			st := linear.FitStandardizer(tr, false)
			trs, rgs := st.Apply(tr), st.Apply(rg)
			id := fmt.Sprint(seed)
			if variant {
				id += " (signs across groups)"
			}
			g, err := linear.RidgeGrid(trs, rgs, linear.LogSpace(1e-5, 1e5, 1000))
			if err != nil {
				return err
			}
			gm := st.Unstandardize(g.W())
			gv := gm.MSE(rg)
			row{id, fmt.Sprintf("ridge grid (α = %.3g)", g.Alpha[g.Best]), gv, gm.MSE(te), l2(g.W()), gv, gm.NonZero(),
				fmt.Sprintf("1 SVD + %d fits, %s", g.Fits, ms(g.Elapsed))}.print(w)
			for _, implicit := range []bool{false, true} {
				s := linear.DefaultSettings()
				s.Implicit = implicit
				f, err := linear.CrossL2(trs, rgs, s)
				if err != nil {
					return err
				}
				m := st.Unstandardize(f.W)
				name := "xreg L2 (paper: ∂/∂ρ at fixed u)"
				if implicit {
					name = "xreg L2 --implicit"
				}
				row{id, name, m.MSE(rg), m.MSE(te), f.Norm, gv, m.NonZero(),
					fmt.Sprintf("%d gradients, %s", f.GradEvals, ms(f.Elapsed))}.print(w)
			}
		}
	}
	return nil
}

func l2(w []float64) float64 {
	var s float64
	for _, v := range w {
		s += v * v
	}
	return math.Sqrt(s)
}

func l1(w []float64) float64 {
	var s float64
	for _, v := range w {
		s += math.Abs(v)
	}
	return s
}

func lasso(w io.Writer, path, plotPath string) error {
	d, err := linear.ReadCSV(path, "y")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Diabetes lasso (PROTOCOL.md): splits k = 0…4 by math/rand/v2 PCG(k, 0): 88 test, 283 training, 71 regularization rows; features and target standardized with training statistics (MSE in the target's units); grid = lasso path, 50 α in [1e-4, 1] (coordinate descent, warm starts). Norm = ‖w‖₁ in standardized units. Drift = Σ over training steps of |Δ‖w‖₁| / final ‖w‖₁.")
	fmt.Fprintln(w)
	header(w, "split")
	var drift0, drift0Reg linear.Data // split 0, standardized, for the fixed-norm measurement
	for k := range uint64(5) {
		tr, rg, te := linear.SplitDiabetes(d, k)
		st := linear.FitStandardizer(tr, true)
		trs, rgs := st.Apply(tr), st.Apply(rg)
		g, err := linear.LassoPath(trs, rgs, linear.LogSpace(1e-4, 1, 50))
		if err != nil {
			return err
		}
		gm := st.Unstandardize(g.W())
		gv := gm.MSE(rg)
		id := fmt.Sprint(k)
		row{id, fmt.Sprintf("lasso path (α = %.3g)", g.Alpha[g.Best]), gv, gm.MSE(te), l1(g.W()), gv, gm.NonZero(),
			fmt.Sprintf("50 fits, %d CD cycles, %s", g.Fits, ms(g.Elapsed))}.print(w)
		var projected []float64
		for _, v := range []struct {
			rule     linear.L1Rule
			implicit bool
			name     string
		}{
			{linear.L1Tangent, false, "xreg L1 tangent (paper)"},
			{linear.L1Project, false, "xreg L1 --l1-rule project"},
			{linear.L1Tangent, true, "xreg L1 tangent --implicit"},
			{linear.L1Project, true, "xreg L1 project --implicit"},
		} {
			s := linear.DefaultL1Settings()
			s.Implicit = v.implicit
			f, err := linear.CrossL1(trs, rgs, s, v.rule)
			if err != nil {
				return err
			}
			m := st.Unstandardize(f.W)
			name := v.name
			if v.rule == linear.L1Project && !v.implicit {
				projected = f.W
			}
			row{id, name, m.MSE(rg), m.MSE(te), f.Norm, gv, m.NonZero(),
				fmt.Sprintf("%d gradients, %s; drift %.3g", f.GradEvals, ms(f.Elapsed), f.Drift)}.print(w)
		}
		if k == 0 {
			drift0, drift0Reg = trs, rgs
		}
		if k == 0 && plotPath != "" {
			var buf bytes.Buffer
			if err := linear.PlotPath(&buf, g, projected, true, d.Names, "Diabetes split 0: lasso path and cross-regularized L1 (project)"); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(plotPath, buf.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	return drift(w, drift0, drift0Reg)
}

// drift measures the training steps alone at a fixed ‖w‖₁ = t (no regularization update): how far
// ‖w‖₁ drifts and how far the weights end from the lasso solution of norm t, on diabetes split 0
// and on the synthetic problem's 100 correlated features (signs across groups, seed 0).
func drift(w io.Writer, dia, diaReg linear.Data) error {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Fixed-norm training steps (no regularization update; 20 000 steps from the default start scaled to t = ‖lasso(α)‖₁): ‖w‖₁ at the end / t, drift = Σ|Δ‖w‖₁| / t, max |w − w_lasso(α)|, non-zeros (lasso's).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| data | α | rule | final ‖w‖₁ / t | drift | max abs diff to lasso | non-zero |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---|")
	tr, rg, _ := linear.RidgeSynthetic(0, 50, 50, 1, true)
	st := linear.FitStandardizer(tr, true)
	for _, c := range []struct {
		name       string
		train, reg linear.Data
		alpha      float64
	}{
		{"diabetes split 0", dia, diaReg, 0.02},
		{"synthetic, 100 correlated features", st.Apply(tr), st.Apply(rg), 0.05},
	} {
		want, err := linear.Lasso(c.train, c.alpha)
		if err != nil {
			return err
		}
		t := l1(want)
		for _, rule := range []linear.L1Rule{linear.L1Tangent, linear.L1Project} {
			s := linear.DefaultL1Settings()
			s.Steps, s.Warmup, s.Norm0 = 20000, 20000, t
			f, err := linear.CrossL1(c.train, c.reg, s, rule)
			if err != nil {
				return err
			}
			var md float64
			nzw, nzf := 0, 0
			for j := range want {
				md = math.Max(md, math.Abs(f.W[j]-want[j]))
				if want[j] != 0 {
					nzw++
				}
				if f.W[j] != 0 {
					nzf++
				}
			}
			fmt.Fprintf(w, "| %s | %g | %v | %.4f | %.3g | %.3g | %d (%d) |\n", c.name, c.alpha, rule, l1(f.W)/t, f.Drift*f.Norm/t, md, nzf, nzw)
		}
	}
	return nil
}

func spline(w io.Writer, plotPath string) error {
	fmt.Fprintln(w, "Spline example: f(x) = sin(2πx) + 0.6·exp(−((x − 0.7)/0.05)²), noise std 0.05 + 0.3x, no data in (0.25, 0.4) and (0.82, 0.95); 20 training points (PCG seed 2s) and 20 regularization points (seed 2s + 1); cubic B-splines, 15 breakpoints (17 functions); grid = 1000 λ in [1e-8, 1e4] (Ω scaled to unit trace). Test MSE = against the noiseless f on 201 points of [0, 1]. Norm = √∫f''².")
	fmt.Fprintln(w)
	header(w, "seed")
	b, err := linear.NewBasis(0, 1, 15)
	if err != nil {
		return err
	}
	truthMSE := func(coef []float64) float64 {
		var s float64
		for i := 0; i <= 200; i++ {
			x := float64(i) / 200
			e := b.Eval(coef, x) - linear.SplineTruth(x)
			s += e * e
		}
		return s / 201
	}
	for seed := range uint64(3) {
		tr, rg := linear.SplineSynthetic(2*seed, 20), linear.SplineSynthetic(2*seed+1, 20)
		g, err := linear.SplineGrid(b, tr, rg, linear.LogSpace(1e-8, 1e4, 1000))
		if err != nil {
			return err
		}
		gv := b.MSE(g.W(), rg)
		id := fmt.Sprint(seed)
		row{id, fmt.Sprintf("smoothing-spline grid (λ = %.3g)", g.Alpha[g.Best]), gv, truthMSE(g.W()), math.Sqrt(b.Roughness(g.W())), gv, b.Len(),
			fmt.Sprintf("%d fits, %s", g.Fits, ms(g.Elapsed))}.print(w)
		curves := []linear.SplineCurve{{Name: "grid search", Coef: g.W()}}
		for _, implicit := range []bool{false, true} {
			s := linear.DefaultSettings()
			s.Implicit = implicit
			f, err := linear.CrossSpline(b, tr, rg, s)
			if err != nil {
				return err
			}
			name := "xreg spline (paper)"
			if implicit {
				name = "xreg spline --implicit"
			}
			row{id, name, b.MSE(f.W, rg), truthMSE(f.W), f.Norm, gv, b.Len(),
				fmt.Sprintf("%d gradients, %s", f.GradEvals, ms(f.Elapsed))}.print(w)
			curves = append(curves, linear.SplineCurve{Name: name, Coef: f.W})
		}
		if seed == 0 && plotPath != "" {
			var buf bytes.Buffer
			if err := linear.PlotSpline(&buf, b, tr, rg, linear.SplineTruth, curves, "Smoothing spline, seed 0"); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(plotPath, buf.Bytes(), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
