package linear

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

// At a fixed norm (no regularization update), the L2 training steps converge to the ridge
// solution of that norm, computed independently in closed form (SVD, bisection on α).
func TestCrossL2ReachesRidgeAtNorm(t *testing.T) {
	tr, rg, _ := RidgeSynthetic(0, 50, 50, 1, true)
	st := FitStandardizer(tr, false)
	trs, rgs := st.Apply(tr), st.Apply(rg)
	for _, rho := range []float64{0.5, 5, 10} {
		want, alpha, err := RidgeAtNorm(trs, rho)
		if err != nil {
			t.Fatal(err)
		}
		s := DefaultSettings()
		s.Steps, s.Warmup, s.Norm0 = 20000, 20000, rho
		f, err := CrossL2(trs, rgs, s)
		if err != nil {
			t.Fatal(err)
		}
		if d := testutil.MaxAbsDiff(t, f.W, want); d > 1e-6*norm2(want) {
			t.Errorf("ρ = %g (α = %.3g): max |w − w_ridge| = %.3g", rho, alpha, d)
		}
		if math.Abs(norm2(f.W)-rho) > 1e-9*rho {
			t.Errorf("ρ = %g: training moved the norm to %g", rho, norm2(f.W))
		}
	}
}

// RidgeAtNorm's solution satisfies the ridge normal equations (XᵀX + αI)w = Xᵀy.
func TestRidgeAtNormNormalEquations(t *testing.T) {
	tr, _, _ := RidgeSynthetic(1, 50, 1, 1, false)
	trs := FitStandardizer(tr, false).Apply(tr)
	w, alpha, err := RidgeAtNorm(trs, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	x := dense(trs)
	var lhs, rhs mat.VecDense
	var xtx mat.Dense
	xtx.Mul(x.T(), x)
	lhs.MulVec(&xtx, mat.NewVecDense(len(w), w))
	lhs.AddScaledVec(&lhs, alpha, mat.NewVecDense(len(w), w))
	rhs.MulVec(x.T(), mat.NewVecDense(trs.Len(), trs.Y))
	if d := testutil.MaxAbsDiff(t, lhs.RawVector().Data, rhs.RawVector().Data); d > 1e-8*mat.Norm(&rhs, 2) {
		t.Errorf("normal equations violated by %g", d)
	}
	if math.Abs(norm2(w)-0.3) > 1e-9 {
		t.Errorf("norm %g, want 0.3", norm2(w))
	}
}

func TestSplitL1(t *testing.T) {
	for _, c := range []struct{ g, w []float64 }{
		{[]float64{1, 2, 3}, []float64{0.5, -1, 2}},
		{[]float64{-1, 0.5, 3, 7}, []float64{0, -1, 0, 2}},
		{[]float64{1, 1}, []float64{0, 0}},
		{[]float64{4, -4}, []float64{1, -1}}, // g along sign(w): no rest
	} {
		par, perp := SplitL1(c.g, c.w)
		sum := make([]float64, len(c.g))
		for i := range sum {
			sum[i] = par[i] + perp[i]
		}
		if d := testutil.MaxAbsDiff(t, sum, c.g); d > 1e-15 {
			t.Errorf("%v, %v: par + perp ≠ g by %g", c.g, c.w, d)
		}
		if d := dot(par, perp); math.Abs(d) > 1e-14 {
			t.Errorf("%v, %v: par·perp = %g", c.g, c.w, d)
		}
		// par is a multiple of sign(w); perp has no component along it.
		var sp float64
		for i, v := range c.w {
			sp += sign(v) * perp[i]
			if v == 0 && par[i] != 0 {
				t.Errorf("%v, %v: component on a zero weight", c.g, c.w)
			}
		}
		if math.Abs(sp) > 1e-14 {
			t.Errorf("%v, %v: perp·sign(w) = %g", c.g, c.w, sp)
		}
	}
}

// ProjectL1 against the projection's characterisation: soft-thresholding at the τ ≥ 0 that gives
// norm t, with τ found here by bisection.
func TestProjectL1(t *testing.T) {
	for _, c := range []struct {
		v []float64
		t float64
	}{
		{[]float64{3, -1, 0.5}, 2},
		{[]float64{3, -1, 0.5}, 10}, // inside: unchanged
		{[]float64{1, 1, 1, -1}, 1},
		{[]float64{0.2, -5, 4, 0}, 0.5},
	} {
		got := ProjectL1(c.v, c.t)
		if norm1(c.v) <= c.t {
			if testutil.MaxAbsDiff(t, got, c.v) != 0 {
				t.Errorf("%v inside the ball was moved to %v", c.v, got)
			}
			continue
		}
		lo, hi := 0.0, 100.0
		soft := func(tau float64) []float64 {
			out := make([]float64, len(c.v))
			for i, x := range c.v {
				out[i] = sign(x) * math.Max(math.Abs(x)-tau, 0)
			}
			return out
		}
		for range 200 {
			mid := (lo + hi) / 2
			if norm1(soft(mid)) > c.t {
				lo = mid
			} else {
				hi = mid
			}
		}
		if d := testutil.MaxAbsDiff(t, got, soft(lo)); d > 1e-12 {
			t.Errorf("ProjectL1(%v, %g) = %v, want %v", c.v, c.t, got, soft(lo))
		}
	}
}

// The lasso solution satisfies its optimality conditions: x_jᵀr/n = α·sign(w_j) on the support and
// |x_jᵀr/n| ≤ α elsewhere.
func TestLassoKKT(t *testing.T) {
	d, err := ReadCSV("../../testdata/diabetes/diabetes.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	tr, _, _ := SplitDiabetes(d, 0)
	trs := FitStandardizer(tr, true).Apply(tr)
	for _, alpha := range []float64{1e-3, 0.02, 0.1} {
		w, err := Lasso(trs, alpha)
		if err != nil {
			t.Fatal(err)
		}
		_, g := newLSQ(trs), make([]float64, len(w))
		newLSQ(trs).grad(w, g) // g = −Xᵀr/n
		for j, v := range w {
			if v != 0 && math.Abs(-g[j]-alpha*sign(v)) > 1e-7 {
				t.Errorf("α = %g, j = %d: gradient %g on the support", alpha, j, -g[j])
			}
			if v == 0 && math.Abs(g[j]) > alpha+1e-7 {
				t.Errorf("α = %g, j = %d: |gradient| %g > α off the support", alpha, j, g[j])
			}
		}
	}
}

// At a fixed ‖w‖₁ (no regularization update) the projected L1 rule reaches the lasso solution of
// that norm (coordinate descent at the matching α), exact zeros included.
func TestCrossL1ProjectReachesLasso(t *testing.T) {
	d, err := ReadCSV("../../testdata/diabetes/diabetes.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	tr, rg, _ := SplitDiabetes(d, 1)
	st := FitStandardizer(tr, true)
	trs, rgs := st.Apply(tr), st.Apply(rg)
	want, err := Lasso(trs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultL1Settings()
	s.Steps, s.Warmup, s.Norm0, s.Momentum = 100000, 100000, norm1(want), 0.9
	f, err := CrossL1(trs, rgs, s, L1Project)
	if err != nil {
		t.Fatal(err)
	}
	if dd := testutil.MaxAbsDiff(t, f.W, want); dd > 1e-4 {
		t.Errorf("max |w − w_lasso| = %g\n got %v\nwant %v", dd, f.W, want)
	}
	for j := range want {
		if (want[j] == 0) != (f.W[j] == 0) {
			t.Errorf("coefficient %d: got %g, lasso %g (zero pattern differs)", j, f.W[j], want[j])
		}
	}
}

// The roughness ∫f”² of cubic polynomials represented exactly in the basis.
func TestSplinePenaltyPolynomial(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		f      func(float64) float64
		want   float64
	}{
		{0, 1, func(x float64) float64 { return x * x * x }, 12},               // ∫₀¹ 36x² dx
		{0, 1, func(x float64) float64 { return 3*x*x - x + 2 }, 36},           // ∫₀¹ 6² dx
		{0, 2, func(x float64) float64 { return x * x * x }, 96},               // ∫₀² 36x² dx
		{-1, 1, func(x float64) float64 { return 5 - 2*x }, 0},                 // straight line
		{0, 1, func(x float64) float64 { return x*x*x - 2*x*x }, 12 - 24 + 16}, // ∫(6x−4)²
	} {
		b, err := NewBasis(c.lo, c.hi, 9)
		if err != nil {
			t.Fatal(err)
		}
		// Interpolate the polynomial at many points by least squares (exact: it is in the space).
		n := 60
		a := mat.NewDense(n, b.Len(), nil)
		y := mat.NewVecDense(n, nil)
		for i := range n {
			x := c.lo + (c.hi-c.lo)*float64(i)/float64(n-1)
			a.SetRow(i, b.Row(x, 0))
			y.SetVec(i, c.f(x))
		}
		var beta mat.VecDense
		if err := beta.SolveVec(a, y); err != nil {
			t.Fatal(err)
		}
		got := b.Roughness(beta.RawVector().Data)
		if math.Abs(got-c.want) > 1e-8*math.Max(1, c.want) {
			t.Errorf("[%g, %g]: roughness %g, want %g", c.lo, c.hi, got, c.want)
		}
	}
}

// The protocol's ridge problem: validation MSE within 3 % of the grid-searched ridge optimum.
func TestCrossL2RidgeProtocol(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2} {
		tr, rg, _ := RidgeSynthetic(seed, 50, 50, 1, false)
		st := FitStandardizer(tr, false)
		trs, rgs := st.Apply(tr), st.Apply(rg)
		g, err := RidgeGrid(trs, rgs, LogSpace(1e-5, 1e5, 1000))
		if err != nil {
			t.Fatal(err)
		}
		f, err := CrossL2(trs, rgs, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		if v, best := mseW(rgs, f.W), g.RegMSE[g.Best]; v > 1.03*best {
			t.Errorf("seed %d: regularization-set MSE %g vs grid %g", seed, v, best)
		}
	}
}

// With the implicit norm gradient the spline's learned smoothness matches the grid-searched one.
func TestCrossSplineImplicitMatchesGrid(t *testing.T) {
	b, err := NewBasis(0, 1, 15)
	if err != nil {
		t.Fatal(err)
	}
	tr, rg := SplineSynthetic(0, 20), SplineSynthetic(1, 20)
	g, err := SplineGrid(b, tr, rg, LogSpace(1e-8, 1e4, 1000))
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	s.Implicit = true
	f, err := CrossSpline(b, tr, rg, s)
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := b.design(rg)
	if v, best := mseW(bd, f.W), g.RegMSE[g.Best]; v > 1.01*best {
		t.Errorf("regularization-set MSE %g vs grid %g", v, best)
	}
	if r, want := f.Norm, math.Sqrt(b.Roughness(g.W())); math.Abs(r-want) > 0.02*want {
		t.Errorf("learned √roughness %g, grid %g", r, want)
	}
}

// The implicit L1 direction is the lasso path's tangent: on a stretch of the path where the
// active set does not change, (w(α₁) − w(α₂)) / (‖w(α₁)‖₁ − ‖w(α₂)‖₁) from coordinate descent.
func TestLassoTangentMatchesPath(t *testing.T) {
	d, err := ReadCSV("../../testdata/diabetes/diabetes.csv", "y")
	if err != nil {
		t.Fatal(err)
	}
	tr, _, _ := SplitDiabetes(d, 0)
	trs := FitStandardizer(tr, true).Apply(tr)
	a, err := Lasso(trs, 0.0300)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Lasso(trs, 0.0301)
	if err != nil {
		t.Fatal(err)
	}
	for j := range a {
		if (a[j] == 0) != (b[j] == 0) || sign(a[j]) != sign(b[j]) {
			t.Fatalf("active set changes between the two α: %v vs %v", a, b)
		}
	}
	want := make([]float64, len(a))
	dt := norm1(a) - norm1(b)
	for j := range a {
		want[j] = (a[j] - b[j]) / dt
	}
	got := make([]float64, len(a))
	if err := lassoTangent(gram(trs), a, got); err != nil {
		t.Fatal(err)
	}
	if dd := testutil.MaxAbsDiff(t, got, want); dd > 1e-5*norm2(want) {
		t.Errorf("tangent %v, path difference %v (max diff %g)", got, want, dd)
	}
}
