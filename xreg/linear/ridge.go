package linear

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
)

// LogSpace returns n values spaced evenly in log between lo and hi (both included).
func LogSpace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = lo
		return out
	}
	a, b := math.Log(lo), math.Log(hi)
	for i := range out {
		out[i] = math.Exp(a + (b-a)*float64(i)/float64(n-1))
	}
	return out
}

// GridFit is a baseline fitted over a grid of penalty strengths and chosen on the
// regularization set.
type GridFit struct {
	Alpha   []float64   // the grid
	Path    [][]float64 // weights per grid point (standardized units)
	RegMSE  []float64   // regularization-set MSE per grid point (standardized target units)
	Best    int         // index of the lowest RegMSE
	Fits    int         // number of models fitted
	Elapsed time.Duration
}

// W is the chosen weight vector.
func (g GridFit) W() []float64 { return g.Path[g.Best] }

func dense(d Data) *mat.Dense {
	m := mat.NewDense(d.Len(), d.Dim(), nil)
	for i, x := range d.X {
		m.SetRow(i, x)
	}
	return m
}

// ridgeSVD holds the thin SVD of a centred design X = U diag(s) Vᵀ and Uᵀy, from which the ridge
// solution for any α is w(α) = V diag(s/(s²+α)) Uᵀy.
type ridgeSVD struct {
	s   []float64
	v   *mat.Dense
	uty []float64
}

func newRidgeSVD(train Data) (*ridgeSVD, error) {
	if train.Len() == 0 || train.Dim() == 0 {
		return nil, errors.New("linear: empty training set")
	}
	var svd mat.SVD
	if !svd.Factorize(dense(train), mat.SVDThin) {
		return nil, errors.New("linear: SVD of the training design did not converge")
	}
	r := &ridgeSVD{s: svd.Values(nil), v: &mat.Dense{}}
	var u mat.Dense
	svd.UTo(&u)
	svd.VTo(r.v)
	var uty mat.VecDense
	uty.MulVec(u.T(), mat.NewVecDense(len(train.Y), append([]float64(nil), train.Y...)))
	r.uty = uty.RawVector().Data
	return r, nil
}

func (r *ridgeSVD) solve(alpha float64) []float64 {
	c := make([]float64, len(r.s))
	for i, s := range r.s {
		if s*s+alpha > 0 {
			c[i] = s / (s*s + alpha) * r.uty[i]
		}
	}
	var w mat.VecDense
	w.MulVec(r.v, mat.NewVecDense(len(c), c))
	return w.RawVector().Data
}

// Ridge solves min ‖y − Xw‖² + α‖w‖² on centred data (the scikit-learn convention for α) in
// closed form.
func Ridge(train Data, alpha float64) ([]float64, error) {
	r, err := newRidgeSVD(train)
	if err != nil {
		return nil, err
	}
	return r.solve(alpha), nil
}

// RidgeGrid fits ridge regression for every α of alphas (one SVD, then a closed form per α) and
// picks the α with the lowest regularization-set MSE. Data must be centred (Standardizer).
func RidgeGrid(train, reg Data, alphas []float64) (GridFit, error) {
	start := time.Now()
	r, err := newRidgeSVD(train)
	if err != nil {
		return GridFit{}, err
	}
	g := GridFit{Alpha: alphas}
	for _, a := range alphas {
		w := r.solve(a)
		g.Path = append(g.Path, w)
		g.RegMSE = append(g.RegMSE, mseW(reg, w))
		g.Fits++
	}
	g.Best = argmin(g.RegMSE)
	g.Elapsed = time.Since(start)
	return g, nil
}

// RidgeAtNorm returns the ridge solution whose Euclidean norm is rho, and its α, found by
// bisection on log α (‖w(α)‖ decreases monotonically in α). rho must lie in (0, ‖w(0⁺)‖), the
// norm of the minimum-norm least-squares solution.
func RidgeAtNorm(train Data, rho float64) ([]float64, float64, error) {
	r, err := newRidgeSVD(train)
	if err != nil {
		return nil, 0, err
	}
	maxNorm := norm2(r.solve(1e-12 * r.s[0] * r.s[0]))
	if !(rho > 0 && rho < maxNorm) {
		return nil, 0, fmt.Errorf("linear: norm %g outside the ridge path (0, %g)", rho, maxNorm)
	}
	lo, hi := math.Log(1e-12*r.s[0]*r.s[0]), math.Log(1e12*r.s[0]*r.s[0])
	for range 200 {
		mid := (lo + hi) / 2
		if norm2(r.solve(math.Exp(mid))) > rho {
			lo = mid
		} else {
			hi = mid
		}
	}
	a := math.Exp((lo + hi) / 2)
	return r.solve(a), a, nil
}

func mseW(d Data, w []float64) float64 {
	var s float64
	for i, x := range d.X {
		e := dot(w, x) - d.Y[i]
		s += e * e
	}
	return s / float64(d.Len())
}

func argmin(v []float64) int {
	b := 0
	for i := range v {
		if v[i] < v[b] {
			b = i
		}
	}
	return b
}
