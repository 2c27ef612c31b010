package linear

import (
	"errors"
	"math"
	"sort"
	"time"
)

// lassoCD is coordinate descent for min (1/2n)‖y − Xw‖² + α‖w‖₁ on centred data (the
// scikit-learn convention for α), with the design held column by column.
type lassoCD struct {
	cols [][]float64 // p columns of length n
	sq   []float64   // ‖x_j‖²/n
	y    []float64
	n    float64
}

func newLassoCD(train Data) (*lassoCD, error) {
	n, p := train.Len(), train.Dim()
	if n == 0 || p == 0 {
		return nil, errors.New("linear: empty training set")
	}
	l := &lassoCD{cols: make([][]float64, p), sq: make([]float64, p), y: train.Y, n: float64(n)}
	for j := range p {
		c := make([]float64, n)
		for i, x := range train.X {
			c[i] = x[j]
		}
		l.cols[j] = c
		l.sq[j] = dot(c, c) / l.n
	}
	return l, nil
}

// solve runs cycles from w (updated in place) until no coefficient moves by more than tol times
// the largest coefficient, or maxIter cycles. It returns the number of cycles.
func (l *lassoCD) solve(w []float64, alpha, tol float64, maxIter int) int {
	r := append([]float64(nil), l.y...)
	for j, c := range l.cols {
		if w[j] != 0 {
			for i := range r {
				r[i] -= w[j] * c[i]
			}
		}
	}
	for it := 1; it <= maxIter; it++ {
		var maxDelta, maxW float64
		for j, c := range l.cols {
			if l.sq[j] == 0 {
				w[j] = 0
				continue
			}
			old := w[j]
			z := dot(c, r)/l.n + l.sq[j]*old
			nw := softThreshold(z, alpha) / l.sq[j]
			if nw != old {
				d := nw - old
				for i := range r {
					r[i] -= d * c[i]
				}
				w[j] = nw
			}
			maxDelta = math.Max(maxDelta, math.Abs(nw-old))
			maxW = math.Max(maxW, math.Abs(nw))
		}
		if maxDelta <= tol*math.Max(maxW, 1e-300) {
			return it
		}
	}
	return maxIter
}

func softThreshold(z, a float64) float64 {
	switch {
	case z > a:
		return z - a
	case z < -a:
		return z + a
	}
	return 0
}

// Lasso solves min (1/2n)‖y − Xw‖² + α‖w‖₁ on centred data by coordinate descent.
func Lasso(train Data, alpha float64) ([]float64, error) {
	l, err := newLassoCD(train)
	if err != nil {
		return nil, err
	}
	w := make([]float64, train.Dim())
	l.solve(w, alpha, 1e-12, 100000)
	return w, nil
}

// LassoPath fits the lasso for every α of alphas by coordinate descent, from the largest α down
// with warm starts, and picks the α with the lowest regularization-set MSE. Fits counts
// coordinate-descent cycles (one cycle = one pass over all coefficients). Data must be centred.
func LassoPath(train, reg Data, alphas []float64) (GridFit, error) {
	start := time.Now()
	l, err := newLassoCD(train)
	if err != nil {
		return GridFit{}, err
	}
	order := make([]int, len(alphas))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return alphas[order[a]] > alphas[order[b]] })
	g := GridFit{Alpha: alphas, Path: make([][]float64, len(alphas)), RegMSE: make([]float64, len(alphas))}
	w := make([]float64, train.Dim())
	for _, i := range order {
		g.Fits += l.solve(w, alphas[i], 1e-10, 100000)
		g.Path[i] = append([]float64(nil), w...)
		g.RegMSE[i] = mseW(reg, g.Path[i])
	}
	g.Best = argmin(g.RegMSE)
	g.Elapsed = time.Since(start)
	return g, nil
}
