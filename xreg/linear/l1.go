package linear

import (
	"fmt"
	"math"
	"sort"
	"time"

	"gonum.org/v1/gonum/mat"
)

// L1Rule is how an L1 training step keeps ‖w‖₁ fixed.
type L1Rule int

const (
	// L1Tangent is the paper's rule (§3.3): the training step uses the gradient minus its component
	// along sign(w)/‖sign(w)‖. A weight that would cross zero stops at exactly zero; a zero weight
	// re-enters (with its gradient component) only when |g_i| exceeds the common slope
	// λ = −g·sign(w)/‖sign(w)‖₁ of the active weights, the lasso's optimality condition. Leaving
	// and re-entering changes ‖w‖₁: the drift DriftL1 measures.
	L1Tangent L1Rule = iota
	// L1Project takes a full training-gradient step and projects it exactly (Euclidean projection,
	// Duchi et al. 2008) onto the L1 ball {‖w‖₁ ≤ t}, t being the norm the last regularization
	// step left: training never changes t, and its fixed points are exactly the lasso solutions
	// of norm t (or the least-squares fit, when that lies inside the ball).
	L1Project
)

func (r L1Rule) String() string {
	if r == L1Project {
		return "project"
	}
	return "tangent"
}

// ParseL1Rule reads "tangent" or "project".
func ParseL1Rule(s string) (L1Rule, error) {
	switch s {
	case "tangent":
		return L1Tangent, nil
	case "project":
		return L1Project, nil
	}
	return 0, fmt.Errorf("linear: unknown L1 rule %q (tangent or project)", s)
}

// SplitL1 splits g into its component along the L1 complexity direction d = sign(w)/‖sign(w)‖
// (sign(0) = 0) and the orthogonal rest: g = par + perp, par·perp = 0. With w = 0, par is zero.
func SplitL1(g, w []float64) (par, perp []float64) {
	par, perp = make([]float64, len(g)), make([]float64, len(g))
	k := float64(nonZero(w))
	var gd float64
	for i, v := range w {
		gd += g[i] * sign(v)
	}
	for i, v := range w {
		if k > 0 {
			par[i] = gd / k * sign(v)
		}
		perp[i] = g[i] - par[i]
	}
	return par, perp
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// ProjectL1 returns the Euclidean projection of v onto {w : ‖w‖₁ ≤ t} (Duchi et al. 2008, by
// sorting): v itself when it is inside, else the soft-thresholding of v at the level τ that makes
// the norm t.
func ProjectL1(v []float64, t float64) []float64 {
	out := append([]float64(nil), v...)
	if norm1(v) <= t {
		return out
	}
	if t <= 0 {
		for i := range out {
			out[i] = 0
		}
		return out
	}
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(a)))
	var cum, tau float64
	for k, x := range a {
		cum += x
		if th := (cum - t) / float64(k+1); x > th {
			tau = th
		}
	}
	for i, x := range out {
		out[i] = sign(x) * math.Max(math.Abs(x)-tau, 0)
	}
	return out
}

// L1Fit is a cross-regularized L1 fit with the drift of ‖w‖₁ that its training steps caused.
type L1Fit struct {
	Fit
	// Drift is the sum over training steps of |‖w‖₁ after − ‖w‖₁ before| divided by the final
	// norm: 0 for a rule that never changes the norm in a training step.
	Drift float64
}

// CrossL1 is L1 cross-regularization (§3.3, §5.2). Training steps move w at (about) constant
// ‖w‖₁ by rule; every RegEvery steps after Warmup, w moves along d = sign(w)/‖sign(w)‖ by the
// regularization-set gradient's component on d, weights that would cross zero stopping at zero.
// The start is the training-loss minimum along the training gradient at 0 (all weights that the
// gradient touches active), or that direction scaled to ‖w‖₁ = Norm0. Data must be centred.
func CrossL1(train, reg Data, s Settings, rule L1Rule) (L1Fit, error) {
	if err := s.validate(); err != nil {
		return L1Fit{}, err
	}
	if err := checkPair(train, reg); err != nil {
		return L1Fit{}, err
	}
	start := time.Now()
	p := train.Dim()
	L, err := maxEigen(train)
	if err != nil {
		return L1Fit{}, err
	}
	eta := s.LR / L
	tl, rl := newLSQ(train), newLSQ(reg)
	fit := L1Fit{}
	var hess *mat.SymDense
	if s.Implicit {
		hess = gram(train)
	}
	g, gr, vel := make([]float64, p), make([]float64, p), make([]float64, p)
	w := make([]float64, p)
	tl.grad(w, g)
	fit.GradEvals++
	if norm2(g) == 0 {
		return L1Fit{}, fmt.Errorf("linear: the training gradient at w = 0 vanishes (target uncorrelated with every feature)")
	}
	for j := range w {
		w[j] = -g[j]
	}
	if s.Norm0 > 0 {
		scale(w, s.Norm0/norm1(w))
	} else {
		scale(w, -dot(g, w)/tl.curvature(w))
	}
	record := func(step int) {
		if s.TraceEvery == 0 || (step%s.TraceEvery != 0 && step != s.Steps) {
			return
		}
		fit.Trace = append(fit.Trace, TracePoint{Step: step, Norm: norm1(w), TrainMSE: mseW(train, w), RegMSE: mseW(reg, w), NonZero: nonZero(w)})
	}
	record(0)
	budget := norm1(w) // the L1 ball of L1Project; moved only by regularization steps
	for step := 1; step <= s.Steps; step++ {
		before := norm1(w)
		tl.grad(w, g)
		fit.GradEvals++
		switch rule {
		case L1Project:
			for j := range w {
				vel[j] = s.Momentum*vel[j] + g[j]
				w[j] -= eta * vel[j]
			}
			copy(w, ProjectL1(w, budget))
		default:
			_, perp := SplitL1(g, w)
			k := float64(nonZero(w))
			var lambda float64 // common slope of the active weights
			for j, v := range w {
				lambda -= g[j] * sign(v)
			}
			if k > 0 {
				lambda /= k
			}
			// The velocity lives in the current face's tangent space: its component along sign(w)
			// is removed, like the gradient's.
			_, vperp := SplitL1(vel, w)
			for j, v := range w {
				if v == 0 && math.Abs(g[j]) <= lambda {
					vel[j] = 0
					continue
				}
				vel[j] = s.Momentum*vperp[j] + perp[j]
				nw := v - eta*vel[j]
				if v != 0 && sign(nw) != sign(v) {
					nw, vel[j] = 0, 0 // crossing zero: stop at zero
				}
				w[j] = nw
			}
		}
		if after := norm1(w); after != before {
			fit.Drift += math.Abs(after - before)
		}
		if step > s.Warmup && (step-s.Warmup)%s.RegEvery == 0 && nonZero(w) > 0 {
			rl.grad(w, gr)
			fit.GradEvals++
			d := make([]float64, p)
			k := math.Sqrt(float64(nonZero(w)))
			for j, v := range w {
				d[j] = sign(v) / k
			}
			if s.Implicit {
				if err := lassoTangent(hess, w, d); err != nil {
					return L1Fit{}, err
				}
			}
			if c := rl.curvature(d); c > 0 {
				step := -s.RegLR / c * dot(gr, d)
				for j, v := range w {
					nw := v + step*d[j]
					if sign(nw) != sign(v) {
						nw, vel[j] = 0, 0
					}
					w[j] = nw
				}
				budget = norm1(w)
			}
		}
		record(step)
	}
	fit.W = w
	fit.Norm = norm1(w)
	if fit.Norm > 0 {
		fit.Drift /= fit.Norm
	}
	fit.Elapsed = time.Since(start)
	return fit, nil
}

func scale(v []float64, a float64) {
	for i := range v {
		v[i] *= a
	}
}

// lassoTangent writes into d the derivative of the lasso solution with respect to its norm t
// along the current face: on the active set A with signs s, the optimality condition
// H_AA·w_A − b_A + μ·s = 0 with s·w_A = t gives dw_A/dt = H_AA⁻¹s / (s·H_AA⁻¹s); zero elsewhere.
func lassoTangent(h *mat.SymDense, w, d []float64) error {
	var act []int
	for j, v := range w {
		d[j] = 0
		if v != 0 {
			act = append(act, j)
		}
	}
	k := len(act)
	a := mat.NewSymDense(k, nil)
	sv := mat.NewVecDense(k, nil)
	for i, ai := range act {
		sv.SetVec(i, sign(w[ai]))
		for j := i; j < k; j++ {
			a.SetSym(i, j, h.At(ai, act[j]))
		}
	}
	var z mat.VecDense
	if err := z.SolveVec(a, sv); err != nil {
		return fmt.Errorf("linear: implicit L1 norm gradient: %w", err)
	}
	den := mat.Dot(&z, sv)
	if den == 0 {
		return fmt.Errorf("linear: implicit L1 norm gradient: singular path tangent")
	}
	for i, ai := range act {
		d[ai] = z.AtVec(i) / den
	}
	return nil
}
