package optim

import (
	"fmt"
	"math"

	"github.com/xreg-onnx/xreg-onnx/internal/par"
)

// Param is one parameter tensor and its gradient, flattened.
type Param struct {
	Name string
	W    []float32
	G    []float32
}

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	Step(params []Param) error
	// State returns the optimiser's state for a checkpoint; its slots share the optimiser's
	// buffers (no copy: valid until the next Step). SetState restores a state, copying it.
	State() State
	SetState(State) error
}

// State is an optimiser's serialisable state: a step count and named slot vectors.
type State struct {
	Kind  string
	Steps int64
	Slots map[string][]float32
}

// Adam is Adam with decoupled weight decay (AdamW when WeightDecay > 0).
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	steps                              int64
	m, v                               map[string][]float32
}

// NewAdam returns Adam with PyTorch's defaults for the betas and epsilon.
func NewAdam(lr, weightDecay float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay,
		m: map[string][]float32{}, v: map[string][]float32{}}
}

// Step applies one update.
func (a *Adam) Step(params []Param) error {
	a.steps++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.steps))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.steps))
	stepSize := a.LR / bc1
	sqrtBC2 := math.Sqrt(bc2)
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	decay := float32(1 - a.LR*a.WeightDecay)
	for _, p := range params {
		if len(p.W) != len(p.G) {
			return fmt.Errorf("optim: %s: %d weights, %d gradients", p.Name, len(p.W), len(p.G))
		}
		m, ok := a.m[p.Name]
		if !ok {
			m = make([]float32, len(p.W))
			a.m[p.Name] = m
			a.v[p.Name] = make([]float32, len(p.W))
		}
		v := a.v[p.Name]
		if len(m) != len(p.W) {
			return fmt.Errorf("optim: %s: state has %d elements, parameter %d", p.Name, len(m), len(p.W))
		}
		k := adamConsts{b1: b1, b2: b2, decay: decay, wd: a.WeightDecay != 0, stepSize: stepSize, sqrtBC2: sqrtBC2, eps: a.Eps}
		w, g := p.W, p.G
		chunks(len(g), func(lo, hi int) { adamUpdate(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], &k) })
	}
	return nil
}

// adamConsts are the constants of one Adam step.
type adamConsts struct {
	b1, b2, decay     float32
	wd                bool
	stepSize, sqrtBC2 float64
	eps               float64
}

// adamGo is the Adam update of weights w with gradients g and moments m, v (all of one length):
// the moments in float32, the step in float64, PyTorch's order of operations. adamUpdate is this
// loop, or a vectorised C copy of it that computes the same values bit for bit (adam_cgo.go).
func adamGo(w, g, m, v []float32, k *adamConsts) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	b1, b2, decay := k.b1, k.b2, k.decay
	for i, g := range g {
		if k.wd {
			w[i] *= decay
		}
		m[i] = b1*m[i] + (1-b1)*g
		v[i] = b2*v[i] + (1-b2)*g*g
		denom := math.Sqrt(float64(v[i]))/k.sqrtBC2 + k.eps
		w[i] -= float32(k.stepSize * float64(m[i]) / denom)
	}
}

// chunkSize is the fewest elements of a parameter worth a goroutine of the update.
const chunkSize = 1 << 15

// chunks runs f over [0, n) in up to GOMAXPROCS contiguous chunks at once (the update of each
// element is independent of the others: the result does not depend on the split).
func chunks(n int, f func(lo, hi int)) { par.Chunks(n, chunkSize, f) }

// State implements Optimizer.
func (a *Adam) State() State {
	s := State{Kind: "adam", Steps: a.steps, Slots: map[string][]float32{}}
	for k, m := range a.m {
		s.Slots["m/"+k] = m
		s.Slots["v/"+k] = a.v[k]
	}
	return s
}

// SetState implements Optimizer.
func (a *Adam) SetState(s State) error {
	if s.Kind != "adam" {
		return fmt.Errorf("optim: checkpoint holds %q state, want adam", s.Kind)
	}
	a.steps = s.Steps
	a.m, a.v = map[string][]float32{}, map[string][]float32{}
	for k, val := range s.Slots {
		switch {
		case len(k) > 2 && k[:2] == "m/":
			a.m[k[2:]] = append([]float32(nil), val...)
		case len(k) > 2 && k[:2] == "v/":
			a.v[k[2:]] = append([]float32(nil), val...)
		default:
			return fmt.Errorf("optim: unknown adam slot %q", k)
		}
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum and decoupled weight decay.
type SGD struct {
	LR, Momentum, WeightDecay float64
	steps                     int64
	buf                       map[string][]float32
}

// NewSGD returns SGD.
func NewSGD(lr, momentum, weightDecay float64) *SGD {
	return &SGD{LR: lr, Momentum: momentum, WeightDecay: weightDecay, buf: map[string][]float32{}}
}

// Step applies one update.
func (s *SGD) Step(params []Param) error {
	s.steps++
	lr, mu := float32(s.LR), float32(s.Momentum)
	decay := float32(1 - s.LR*s.WeightDecay)
	for _, p := range params {
		if len(p.W) != len(p.G) {
			return fmt.Errorf("optim: %s: %d weights, %d gradients", p.Name, len(p.W), len(p.G))
		}
		var b []float32
		if s.Momentum != 0 {
			var ok bool
			if b, ok = s.buf[p.Name]; !ok {
				b = make([]float32, len(p.W))
				s.buf[p.Name] = b
			}
		}
		for i, g := range p.G {
			if s.WeightDecay != 0 {
				p.W[i] *= decay
			}
			if b != nil {
				if s.steps == 1 {
					b[i] = g // torch initialises the buffer with the first gradient
				} else {
					b[i] = mu*b[i] + g
				}
				g = b[i]
			}
			p.W[i] -= lr * g
		}
	}
	return nil
}

// State implements Optimizer.
func (s *SGD) State() State {
	st := State{Kind: "sgd", Steps: s.steps, Slots: map[string][]float32{}}
	for k, b := range s.buf {
		st.Slots[k] = b
	}
	return st
}

// SetState implements Optimizer.
func (s *SGD) SetState(st State) error {
	if st.Kind != "sgd" {
		return fmt.Errorf("optim: checkpoint holds %q state, want sgd", st.Kind)
	}
	s.steps = st.Steps
	s.buf = map[string][]float32{}
	for k, v := range st.Slots {
		s.buf[k] = append([]float32(nil), v...)
	}
	return nil
}

// ClipGlobalNorm scales all gradients by min(1, maxNorm/‖g‖) where ‖g‖ is their joint L2 norm,
// and returns the norm before clipping. maxNorm ≤ 0 only measures.
func ClipGlobalNorm(params []Param, maxNorm float64) float64 {
	var ss float64
	for _, p := range params {
		for _, g := range p.G {
			ss += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		scale := float32(maxNorm / (norm + 1e-6))
		for _, p := range params {
			for i := range p.G {
				p.G[i] *= scale
			}
		}
	}
	return norm
}
