package linear

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
)

// Settings drive a cross-regularized fit. Steps are full-batch gradient steps on the training
// set; the regularization set moves the norm every RegEvery steps once Warmup steps have passed.
// Step sizes are given relative to the problem's curvature, so that the defaults work whatever
// the scale of the data.
type Settings struct {
	Steps    int     // training steps (> 0)
	Warmup   int     // training steps before the first regularization update (≥ 0)
	RegEvery int     // one regularization update every RegEvery training steps (> 0)
	LR       float64 // training step as a fraction of 1/L, L = largest eigenvalue of XᵀX/n (0 < LR < 2)
	RegLR    float64 // regularization step as a fraction of 1/c, c = curvature of the regularization loss along the complexity direction (> 0)
	Momentum float64 // heavy-ball momentum of the training steps, in [0, 1)
	// Norm0 is the initial norm; 0 starts at the training-loss minimum along the first gradient.
	Norm0 float64
	// Implicit moves the norm by the total derivative of the regularization loss along the path of
	// training optima, dL_r/dρ = ∇L_r·dw*/dρ (implicit differentiation of the training optimality
	// condition, one p×p solve per update), instead of the paper's partial derivative ∇L_r·u/‖u‖
	// at fixed direction. For CrossL1 the path is the lasso's on the current face:
	// dw_A/dt = H_AA⁻¹·sign(w_A) / (sign(w_A)·H_AA⁻¹·sign(w_A)).
	Implicit bool
	// TraceEvery records the state every TraceEvery steps (0: never).
	TraceEvery int
}

// DefaultSettings are the settings of CrossL2 and CrossSpline used by the benchmark protocol and
// the CLI.
func DefaultSettings() Settings {
	return Settings{Steps: 20000, Warmup: 2000, RegEvery: 10, LR: 1, RegLR: 0.05, Momentum: 0.9, TraceEvery: 100}
}

// DefaultL1Settings are those of CrossL1: without momentum, which on the diabetes splits carried
// the weights past the lasso's faces and settled at higher regularization-set MSE (BENCHMARKS.md).
func DefaultL1Settings() Settings {
	s := DefaultSettings()
	s.Momentum = 0
	return s
}

func (s Settings) validate() error {
	switch {
	case s.Steps <= 0:
		return fmt.Errorf("linear: steps %d must be positive", s.Steps)
	case s.Warmup < 0:
		return fmt.Errorf("linear: warm-up %d must not be negative", s.Warmup)
	case s.RegEvery <= 0:
		return fmt.Errorf("linear: reg-every %d must be positive", s.RegEvery)
	case !(s.LR > 0 && s.LR < 2):
		return fmt.Errorf("linear: learning rate %g must be in (0, 2) (a fraction of 1/L)", s.LR)
	case !(s.RegLR > 0) || math.IsInf(s.RegLR, 0):
		return fmt.Errorf("linear: regularization learning rate %g must be positive", s.RegLR)
	case !(s.Momentum >= 0 && s.Momentum < 1):
		return fmt.Errorf("linear: momentum %g must be in [0, 1)", s.Momentum)
	case s.Norm0 < 0 || math.IsNaN(s.Norm0):
		return fmt.Errorf("linear: initial norm %g must not be negative (0: automatic)", s.Norm0)
	case s.TraceEvery < 0:
		return fmt.Errorf("linear: trace-every %d must not be negative", s.TraceEvery)
	}
	return nil
}

// TracePoint is the state of a fit after Step training steps.
type TracePoint struct {
	Step     int
	Norm     float64
	TrainMSE float64
	RegMSE   float64
	NonZero  int
}

// Fit is the result of a cross-regularized fit.
type Fit struct {
	W         []float64 // weights (standardized units of the data it was fitted on)
	Norm      float64   // the learned norm: ‖w‖₂, ‖w‖₁, or √(βᵀΩβ) for splines
	Trace     []TracePoint
	GradEvals int // full-batch gradient evaluations, training and regularization sets together
	Elapsed   time.Duration
}

// lsq is a least-squares loss (1/2n)‖Xw − y‖² with its gradient.
type lsq struct {
	x [][]float64
	y []float64
	r []float64 // scratch residual
}

func newLSQ(d Data) *lsq { return &lsq{x: d.X, y: d.Y, r: make([]float64, d.Len())} }

// grad writes ∇ = Xᵀ(Xw − y)/n into g and returns the MSE (mean of squared residuals).
func (l *lsq) grad(w, g []float64) float64 {
	for j := range g {
		g[j] = 0
	}
	var s float64
	for i, x := range l.x {
		e := dot(w, x) - l.y[i]
		s += e * e
		for j, v := range x {
			g[j] += e * v
		}
	}
	n := float64(len(l.y))
	for j := range g {
		g[j] /= n
	}
	return s / n
}

// curvature is vᵀXᵀXv/n.
func (l *lsq) curvature(v []float64) float64 {
	var s float64
	for _, x := range l.x {
		e := dot(v, x)
		s += e * e
	}
	return s / float64(len(l.y))
}

// gram is XᵀX/n, the Hessian of the least-squares loss.
func gram(d Data) *mat.SymDense {
	p, n := d.Dim(), float64(d.Len())
	g := mat.NewSymDense(p, nil)
	for _, x := range d.X {
		for a := range p {
			for b := a; b < p; b++ {
				g.SetSym(a, b, g.At(a, b)+x[a]*x[b]/n)
			}
		}
	}
	return g
}

// maxEigen is the largest eigenvalue of XᵀX/n.
func maxEigen(d Data) (float64, error) {
	var e mat.EigenSym
	if !e.Factorize(gram(d), false) {
		return 0, errors.New("linear: eigen-decomposition of XᵀX did not converge")
	}
	v := e.Values(nil)
	return v[len(v)-1], nil
}

// pathTangent writes dw*/dρ into dir: the derivative of the training optimum on the sphere
// ‖w_P‖ = ρ with respect to ρ. With the multiplier μ = −g_P·w_P/ρ² of the optimality condition
// H·w − b + μ·P·w = 0, differentiating gives dw/dρ = ρ·z/(w_P·z_P) with z = (H + μP)⁻¹ P·w.
func pathTangent(h *mat.SymDense, g, w []float64, nFree int, rho float64, dir []float64) error {
	p := len(w)
	if rho <= 0 {
		return nil // at ρ = 0 the direction u/‖u‖ is the path's tangent
	}
	mu := -dot(g[nFree:], w[nFree:]) / (rho * rho)
	a := mat.NewDense(p, p, nil)
	a.Copy(h)
	pw := make([]float64, p)
	for j := nFree; j < p; j++ {
		a.Set(j, j, a.At(j, j)+mu)
		pw[j] = w[j]
	}
	var z mat.VecDense
	if err := z.SolveVec(a, mat.NewVecDense(p, pw)); err != nil {
		return fmt.Errorf("linear: implicit norm gradient: %w", err)
	}
	zd := z.RawVector().Data
	den := dot(zd[nFree:], w[nFree:])
	if den == 0 {
		return errors.New("linear: implicit norm gradient: singular path tangent")
	}
	for j := range dir {
		dir[j] = rho * zd[j] / den
	}
	return nil
}

func checkPair(train, reg Data) error {
	switch {
	case train.Len() == 0:
		return errors.New("linear: empty training set")
	case reg.Len() == 0:
		return errors.New("linear: empty regularization set")
	case train.Dim() == 0:
		return errors.New("linear: no features")
	case reg.Dim() != train.Dim():
		return fmt.Errorf("linear: regularization set has %d features, training set %d", reg.Dim(), train.Dim())
	}
	return nil
}

// CrossL2 is L2 cross-regularization (§3.2): w = ρ·u/‖u‖. Every training step moves u along the
// training gradient projected on the tangent space of the sphere ‖w‖ = ρ (u is renormalised, its
// scale does not change w); every RegEvery steps after Warmup, ρ moves along the
// regularization-set gradient's component on u/‖u‖. Data must be centred (Standardizer).
func CrossL2(train, reg Data, s Settings) (Fit, error) {
	return crossSphere(train, reg, 0, s)
}

// crossSphere runs L2 cross-regularization on the coordinates nFree… of w, with the first nFree
// coordinates unpenalised (moved by the training loss only).
func crossSphere(train, reg Data, nFree int, s Settings) (Fit, error) {
	if err := s.validate(); err != nil {
		return Fit{}, err
	}
	if err := checkPair(train, reg); err != nil {
		return Fit{}, err
	}
	start := time.Now()
	p := train.Dim()
	if nFree >= p {
		return Fit{}, errors.New("linear: no penalised coordinates")
	}
	L, err := maxEigen(train)
	if err != nil {
		return Fit{}, err
	}
	if !(L > 0) {
		return Fit{}, errors.New("linear: the training features are all zero")
	}
	eta := s.LR / L
	tl, rl := newLSQ(train), newLSQ(reg)
	fit := Fit{}
	var hess *mat.SymDense
	if s.Implicit {
		hess = gram(train)
	}
	g := make([]float64, p)
	w := make([]float64, p)
	// Start: u along the training gradient at 0, ρ at the training minimum along it.
	tl.grad(w, g)
	fit.GradEvals++
	u := make([]float64, p-nFree)
	for j := range u {
		u[j] = -g[nFree+j]
	}
	nu := norm2(u)
	if nu == 0 {
		return Fit{}, errors.New("linear: the training gradient at w = 0 vanishes on the penalised coordinates (target uncorrelated with every feature)")
	}
	for j := range u {
		u[j] /= nu
	}
	rho := s.Norm0
	if rho == 0 {
		full := make([]float64, p)
		copy(full[nFree:], u)
		rho = -dot(g, full) / tl.curvature(full)
	}
	set := func() {
		for j := range u {
			w[nFree+j] = rho * u[j]
		}
	}
	set()
	record := func(step int) {
		if s.TraceEvery == 0 || (step%s.TraceEvery != 0 && step != s.Steps) {
			return
		}
		fit.Trace = append(fit.Trace, TracePoint{Step: step, Norm: rho, TrainMSE: mseW(train, w), RegMSE: mseW(reg, w), NonZero: nonZero(w)})
	}
	record(0)
	gr := make([]float64, p)
	dir := make([]float64, p)
	vel := make([]float64, p) // heavy-ball velocity, kept in the tangent space
	for step := 1; step <= s.Steps; step++ {
		tl.grad(w, g)
		fit.GradEvals++
		for j := range nFree {
			vel[j] = s.Momentum*vel[j] + g[j]
			w[j] -= eta * vel[j]
		}
		gu := dot(g[nFree:], u)
		vu := dot(vel[nFree:], u)
		// On the sphere the curvature is H + μ with the multiplier μ = −g·u/ρ; a step of LR/L
		// alone would overshoot when μ > L (small norms).
		etaU := s.LR / (L + math.Max(-gu/math.Max(rho, 1e-300), 0))
		var nn float64
		for j := range u {
			// The velocity and gradient projected on the tangent space of the sphere; w_P − η·v,
			// divided by ρ, is the new unnormalised direction.
			v := s.Momentum*(vel[nFree+j]-vu*u[j]) + g[nFree+j] - gu*u[j]
			vel[nFree+j] = v
			u[j] -= etaU / math.Max(rho, 1e-300) * v
			nn += u[j] * u[j]
		}
		nn = math.Sqrt(nn)
		for j := range u {
			u[j] /= nn
		}
		set()
		if step > s.Warmup && (step-s.Warmup)%s.RegEvery == 0 {
			rl.grad(w, gr)
			fit.GradEvals++
			for j := range nFree {
				dir[j] = 0
			}
			copy(dir[nFree:], u)
			if s.Implicit {
				tl.grad(w, g)
				fit.GradEvals++
				if err := pathTangent(hess, g, w, nFree, rho, dir); err != nil {
					return Fit{}, err
				}
			}
			c := rl.curvature(dir)
			if c > 0 {
				rho -= s.RegLR / c * dot(gr, dir)
				rho = math.Max(rho, 0)
				set()
			}
		}
		record(step)
	}
	fit.W = w
	fit.Norm = rho
	fit.Elapsed = time.Since(start)
	return fit, nil
}
