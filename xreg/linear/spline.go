package linear

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Basis is a clamped cubic B-spline basis on [Lo, Hi] with uniformly spaced breakpoints: the knot
// vector repeats each end four times, and there are Breaks + 2 basis functions.
type Basis struct {
	Lo, Hi float64
	Knots  []float64
}

const splineDegree = 3

// NewBasis returns the cubic basis with breaks breakpoints (ends included, ≥ 2) on [lo, hi].
func NewBasis(lo, hi float64, breaks int) (Basis, error) {
	if !(hi > lo) || breaks < 2 {
		return Basis{}, fmt.Errorf("linear: spline basis needs lo < hi and at least 2 breakpoints, got [%g, %g] and %d", lo, hi, breaks)
	}
	var k []float64
	for range splineDegree {
		k = append(k, lo)
	}
	for i := range breaks {
		k = append(k, lo+(hi-lo)*float64(i)/float64(breaks-1))
	}
	for range splineDegree {
		k = append(k, hi)
	}
	return Basis{Lo: lo, Hi: hi, Knots: k}, nil
}

// Len is the number of basis functions.
func (b Basis) Len() int { return len(b.Knots) - splineDegree - 1 }

// deriv is the der-th derivative of the degree-deg B-spline i at x (Cox–de Boor recursion and
// the derivative formula B'_{i,k} = k·(B_{i,k−1}/(t_{i+k}−t_i) − B_{i+1,k−1}/(t_{i+k+1}−t_{i+1}))).
// The right end belongs to the last interval.
func (b Basis) deriv(i, deg, der int, x float64) float64 {
	t := b.Knots
	if der > 0 {
		var v float64
		if d := t[i+deg] - t[i]; d > 0 {
			v += float64(deg) * b.deriv(i, deg-1, der-1, x) / d
		}
		if d := t[i+deg+1] - t[i+1]; d > 0 {
			v -= float64(deg) * b.deriv(i+1, deg-1, der-1, x) / d
		}
		return v
	}
	if deg == 0 {
		if t[i] <= x && x < t[i+1] {
			return 1
		}
		// x = Hi belongs to the last non-empty interval.
		if x == b.Hi && t[i] < t[i+1] && t[i+1] == b.Hi {
			return 1
		}
		return 0
	}
	var v float64
	if d := t[i+deg] - t[i]; d > 0 {
		v += (x - t[i]) / d * b.deriv(i, deg-1, 0, x)
	}
	if d := t[i+deg+1] - t[i+1]; d > 0 {
		v += (t[i+deg+1] - x) / d * b.deriv(i+1, deg-1, 0, x)
	}
	return v
}

// Row is the basis evaluated at x (the der-th derivative, 0 for values).
func (b Basis) Row(x float64, der int) []float64 {
	r := make([]float64, b.Len())
	for i := range r {
		r[i] = b.deriv(i, splineDegree, der, x)
	}
	return r
}

// Penalty is Ω with Ω_ij = ∫ B_i”(x) B_j”(x) dx over [Lo, Hi], so that the roughness of the
// spline with coefficients β is ∫ f”² = βᵀΩβ. Each product is a quadratic on every knot
// interval, which 3-point Gauss–Legendre integrates exactly.
func (b Basis) Penalty() *mat.SymDense {
	k := b.Len()
	o := mat.NewSymDense(k, nil)
	nodes := []float64{-math.Sqrt(0.6), 0, math.Sqrt(0.6)}
	weights := []float64{5.0 / 9, 8.0 / 9, 5.0 / 9}
	for s := 0; s+1 < len(b.Knots); s++ {
		a, c := b.Knots[s], b.Knots[s+1]
		if c <= a {
			continue
		}
		for q, z := range nodes {
			x := (a+c)/2 + (c-a)/2*z
			r := b.Row(x, 2)
			wq := weights[q] * (c - a) / 2
			for i := range k {
				if r[i] == 0 {
					continue
				}
				for j := i; j < k; j++ {
					o.SetSym(i, j, o.At(i, j)+wq*r[i]*r[j])
				}
			}
		}
	}
	return o
}

// Roughness is βᵀΩβ = ∫ f”² of the spline with coefficients coef.
func (b Basis) Roughness(coef []float64) float64 {
	v := mat.NewVecDense(len(coef), append([]float64(nil), coef...))
	return mat.Inner(v, b.Penalty(), v)
}

// Eval is the spline with coefficients coef at x.
func (b Basis) Eval(coef []float64, x float64) float64 { return dot(coef, b.Row(x, 0)) }

// design is the n×K basis matrix of the first feature of d.
func (b Basis) design(d Data) (Data, error) {
	out := Data{X: make([][]float64, d.Len()), Y: d.Y}
	for i, x := range d.X {
		if len(x) != 1 {
			return Data{}, fmt.Errorf("linear: spline data needs exactly one feature, got %d", len(x))
		}
		if x[0] < b.Lo || x[0] > b.Hi {
			return Data{}, fmt.Errorf("linear: x = %g outside the spline's range [%g, %g]", x[0], b.Lo, b.Hi)
		}
		out.X[i] = b.Row(x[0], 0)
	}
	return out, nil
}

// demmler is the change of coordinates β = T·c in which βᵀΩβ = ‖c_P‖², c = (c_F, c_P): the
// first nFree columns of T span the null space of Ω (constants and straight lines), the others
// are Ω's eigenvectors divided by the square roots of their eigenvalues.
type demmler struct {
	t     *mat.Dense
	nFree int
}

func newDemmler(o *mat.SymDense) (demmler, error) {
	var e mat.EigenSym
	if !e.Factorize(o, true) {
		return demmler{}, errors.New("linear: eigen-decomposition of the spline penalty did not converge")
	}
	vals := e.Values(nil)
	var v mat.Dense
	e.VectorsTo(&v)
	k := len(vals)
	tol := 1e-9 * vals[k-1]
	d := demmler{t: mat.NewDense(k, k, nil)}
	for _, l := range vals { // ascending
		if l <= tol {
			d.nFree++
		}
	}
	for j, l := range vals {
		f := 1.0
		if j >= d.nFree {
			f = 1 / math.Sqrt(l)
		}
		for i := range k {
			d.t.Set(i, j, v.At(i, j)*f)
		}
	}
	return d, nil
}

func (d demmler) apply(x Data) Data {
	out := Data{X: make([][]float64, x.Len()), Y: x.Y}
	k, _ := d.t.Dims()
	for i, r := range x.X {
		row := make([]float64, k)
		for j := range k {
			for a := range k {
				row[j] += r[a] * d.t.At(a, j)
			}
		}
		out.X[i] = row
	}
	return out
}

func (d demmler) coef(c []float64) []float64 {
	var b mat.VecDense
	b.MulVec(d.t, mat.NewVecDense(len(c), append([]float64(nil), c...)))
	return b.RawVector().Data
}

// CrossSpline fits a smoothing spline by cross-regularization (§5.3): training steps move the
// coefficients on the level set βᵀΩβ = ρ² (constant smoothness), the regularization set moves ρ.
// train and reg hold one feature, x. Fit.W holds β; Fit.Norm is ρ = √(∫ f”²).
func CrossSpline(b Basis, train, reg Data, s Settings) (Fit, error) {
	dm, err := newDemmler(b.Penalty())
	if err != nil {
		return Fit{}, err
	}
	bt, err := b.design(train)
	if err != nil {
		return Fit{}, err
	}
	br, err := b.design(reg)
	if err != nil {
		return Fit{}, err
	}
	f, err := crossSphere(dm.apply(bt), dm.apply(br), dm.nFree, s)
	if err != nil {
		return Fit{}, err
	}
	f.W = dm.coef(f.W)
	return f, nil
}

// SplineGrid fits the smoothing spline min ‖y − Bβ‖² + λ·βᵀΩβ in closed form for every λ of
// lambdas (Ω scaled to unit trace, as in the paper's App. B.3) and picks the λ with the lowest
// regularization-set MSE. Path holds the coefficients β.
func SplineGrid(b Basis, train, reg Data, lambdas []float64) (GridFit, error) {
	start := time.Now()
	bt, err := b.design(train)
	if err != nil {
		return GridFit{}, err
	}
	br, err := b.design(reg)
	if err != nil {
		return GridFit{}, err
	}
	o := b.Penalty()
	k := b.Len()
	tr := mat.Trace(o)
	btm := dense(bt)
	var btb mat.Dense
	btb.Mul(btm.T(), btm)
	var bty mat.VecDense
	bty.MulVec(btm.T(), mat.NewVecDense(bt.Len(), append([]float64(nil), bt.Y...)))
	g := GridFit{Alpha: lambdas}
	for _, l := range lambdas {
		a := mat.NewDense(k, k, nil)
		for i := range k {
			for j := range k {
				a.Set(i, j, btb.At(i, j)+l*o.At(i, j)/tr)
			}
		}
		var beta mat.VecDense
		if err := beta.SolveVec(a, &bty); err != nil {
			return GridFit{}, fmt.Errorf("linear: smoothing spline at λ = %g: %w", l, err)
		}
		w := beta.RawVector().Data
		g.Path = append(g.Path, w)
		g.RegMSE = append(g.RegMSE, mseW(br, w))
		g.Fits++
	}
	g.Best = argmin(g.RegMSE)
	g.Elapsed = time.Since(start)
	return g, nil
}

// MSE is the mean squared error on d (one feature, x) of the spline with coefficients coef.
func (b Basis) MSE(coef []float64, d Data) float64 {
	var s float64
	for i, x := range d.X {
		e := b.Eval(coef, x[0]) - d.Y[i]
		s += e * e
	}
	return s / float64(d.Len())
}
