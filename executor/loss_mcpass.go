package executor

import (
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MCPasses computes the MC NLL loss of MCNLL (k passes over n examples) and its gradient with a
// net of one pass (n rows) instead of k·n, in two phases:
//
//  1. k forward passes (any net with the same output, e.g. a forward-only one): Observe(r, z_r)
//     records softmax(z_r) of each pass; Value is then the exact MC NLL,
//     L = −(1/n) Σ_i Σ_c q_{i,c} log p̄_{i,c},  p̄_i = (1/k) Σ_r softmax(z_{r,i}).
//  2. k forward+backward passes of the net, with the same noise as in phase 1: SetPass(r) before
//     pass r makes Loss the per-pass surrogate L_r = −Σ_i Σ_c t_{r,i,c} log softmax(z_{r,i})_c
//     with the constant targets t_{r,i,c} = q_{i,c} p_{r,i,c} / (n k p̄_{i,c}), whose gradient
//     with respect to z_r equals ∂L/∂z_r; summing the k passes' parameter gradients gives ∂L/∂θ.
//
// The activations held are one pass's, at the cost of k extra forward passes.
type MCPasses struct {
	// Loss is the surrogate loss node, for Net.Grad.
	Loss *gorgonia.Node
	op   *mcPassOp
	k    int
	// probs holds softmax(z_r) of every observed pass (k·rows·classes), observed which passes
	// Observe recorded.
	probs    []float64
	observed []bool
	mean     []float64 // p̄ (rows·classes), set by Value or SetPass
}

// MCPassLoss adds the per-pass surrogate loss of MCPasses to the net, whose output (n, classes)
// is one pass over the n examples. Call Net.Grad with the returned Loss.
func (n *Net) MCPassLoss(output string, k int, smoothing float64) (*MCPasses, error) {
	var logits *gorgonia.Node
	for i, name := range n.OutputNames {
		if name == output {
			logits = n.Outputs[i]
		}
	}
	if logits == nil {
		return nil, fmt.Errorf("executor: MC pass loss: %q is not an output of the net (outputs: %s)", output, strings.Join(n.OutputNames, ", "))
	}
	s := logits.Shape()
	if s.Dims() != 2 || s[0] == 0 || s[1] == 0 || k < 1 {
		return nil, fmt.Errorf("executor: MC pass loss: output %q has shape %v and k = %d, want (batch, classes) and k ≥ 1", output, s, k)
	}
	if smoothing < 0 || smoothing >= 1 {
		return nil, fmt.Errorf("executor: MC pass loss: label smoothing %v outside [0, 1)", smoothing)
	}
	op := &mcPassOp{opBase: newOpBase("MCPassLoss", n.dt, tensor.ScalarShape(), logits),
		rows: s[0], classes: s[1], smoothing: smoothing}
	loss, err := gorgonia.ApplyOp(op, logits)
	if err != nil {
		return nil, fmt.Errorf("executor: MC pass loss: %w", err)
	}
	return &MCPasses{Loss: loss, op: op, k: k, probs: make([]float64, k*s[0]*s[1]), observed: make([]bool, k),
		mean: make([]float64, s[0]*s[1])}, nil
}

// SetLabels sets the n labels and forgets the observed passes.
func (p *MCPasses) SetLabels(labels []int) error {
	op := p.op
	if len(labels) != op.rows {
		return fmt.Errorf("executor: MC passes: %d labels for %d examples", len(labels), op.rows)
	}
	for i, l := range labels {
		if l < 0 || l >= op.classes {
			return fmt.Errorf("executor: MC passes: label %d of example %d is outside [0, %d)", l, i, op.classes)
		}
	}
	op.labels = append(op.labels[:0], labels...)
	clear(p.observed)
	op.targets = nil
	return nil
}

// Observe records pass r's logits (n, classes), float32 or float64: phase 1.
func (p *MCPasses) Observe(r int, logits *tensor.Dense) error {
	op := p.op
	if r < 0 || r >= p.k {
		return fmt.Errorf("executor: MC passes: pass %d outside [0, %d)", r, p.k)
	}
	if s := logits.Shape(); s.Dims() != 2 || s[0] != op.rows || s[1] != op.classes {
		return fmt.Errorf("executor: MC passes: logits of shape %v, want (%d, %d)", s, op.rows, op.classes)
	}
	dst := p.probs[r*op.rows*op.classes : (r+1)*op.rows*op.classes]
	switch z := logits.Data().(type) {
	case []float32:
		softmaxRows(op.classes, z, dst)
	case []float64:
		softmaxRows(op.classes, z, dst)
	default:
		return fmt.Errorf("executor: MC passes: logits of type %T", z)
	}
	p.observed[r] = true
	return nil
}

// softmaxRows writes the softmax of each row of z (rows of c values) into p, in float64.
func softmaxRows[T float](c int, z []T, p []float64) {
	for r := 0; r < len(z)/c; r++ {
		row, out := z[r*c:(r+1)*c], p[r*c:(r+1)*c]
		mx := float64(row[0])
		for _, v := range row[1:] {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for j, v := range row {
			out[j] = math.Exp(float64(v) - mx)
			s += out[j]
		}
		for j := range out {
			out[j] /= s
		}
	}
}

// average sets p.mean to p̄ once every pass is observed.
func (p *MCPasses) average() error {
	op := p.op
	if len(op.labels) != op.rows {
		return fmt.Errorf("executor: MC passes: labels are not set (MCPasses.SetLabels)")
	}
	for r, ok := range p.observed {
		if !ok {
			return fmt.Errorf("executor: MC passes: pass %d of %d was not observed", r, p.k)
		}
	}
	clear(p.mean)
	nc := op.rows * op.classes
	for r := 0; r < p.k; r++ {
		for j, v := range p.probs[r*nc : (r+1)*nc] {
			p.mean[j] += v / float64(p.k)
		}
	}
	return nil
}

// q returns the smoothed target probability of class j for label y.
func (op *mcPassOp) q(j, y int) float64 {
	q := op.smoothing / float64(op.classes)
	if j == y {
		q += 1 - op.smoothing
	}
	return q
}

// Value returns the exact MC NLL of the k observed passes.
func (p *MCPasses) Value() (float64, error) {
	if err := p.average(); err != nil {
		return 0, err
	}
	op, c := p.op, p.op.classes
	var total float64
	for i := 0; i < op.rows; i++ {
		m := p.mean[i*c : (i+1)*c]
		for j, v := range m {
			if q := op.q(j, op.labels[i]); q != 0 {
				total -= q * math.Log(math.Max(v, mcFloor))
			}
		}
	}
	return total / float64(op.rows), nil
}

// SetPass sets the targets of the surrogate loss for gradient pass r: phase 2.
func (p *MCPasses) SetPass(r int) error {
	if r < 0 || r >= p.k {
		return fmt.Errorf("executor: MC passes: pass %d outside [0, %d)", r, p.k)
	}
	if err := p.average(); err != nil {
		return err
	}
	op, c := p.op, p.op.classes
	if len(op.targets) != op.rows*c {
		op.targets = make([]float64, op.rows*c)
	}
	pr := p.probs[r*op.rows*c : (r+1)*op.rows*c]
	scale := 1 / float64(op.rows*p.k)
	for i := 0; i < op.rows; i++ {
		for j := 0; j < c; j++ {
			t := 0.0
			if q := op.q(j, op.labels[i]); q != 0 {
				t = q * pr[i*c+j] * scale / math.Max(p.mean[i*c+j], mcFloor)
			}
			op.targets[i*c+j] = t
		}
	}
	op.pass = pr
	return nil
}

// mcPassOp is −Σ_i Σ_c t_{i,c} log softmax(z_i)_c with constant targets t (MCPasses.SetPass).
type mcPassOp struct {
	opBase
	rows, classes int
	smoothing     float64
	labels        []int
	targets       []float64
	// pass is the phase-1 softmax of the pass the targets are for: the forward pass checks that
	// it recomputes it (same noise), so a mismatch cannot pass silently.
	pass []float64
	// probs holds softmax(z) of the last forward, for the backward.
	probs []float64
}

// mcPassTolerance bounds the difference between a pass's phase-1 and phase-2 probabilities.
const mcPassTolerance = 1e-3

func (op *mcPassOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(op.targets) != op.rows*op.classes {
		return nil, fmt.Errorf("executor: MC pass loss: no pass is set (MCPasses.SetPass)")
	}
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		v, err := mcPassForward(op, in[0])
		out[0] = float32(v)
		return err
	}, func(in [][]float64, out []float64) error {
		v, err := mcPassForward(op, in[0])
		out[0] = v
		return err
	})
}

func mcPassForward[T float](op *mcPassOp, z []T) (float64, error) {
	c := op.classes
	if len(op.probs) != len(z) {
		op.probs = make([]float64, len(z))
	}
	softmaxRows(c, z, op.probs)
	var total float64
	for i := 0; i < op.rows; i++ {
		for j := 0; j < c; j++ {
			k := i*c + j
			if d := math.Abs(op.probs[k] - op.pass[k]); d > mcPassTolerance || math.IsNaN(d) {
				return 0, fmt.Errorf("executor: MC pass loss: example %d, class %d: probability %v, the forward-only pass gave %v (not the same noise or statistics)", i, j, op.probs[k], op.pass[k])
			}
			if t := op.targets[k]; t != 0 {
				total -= t * math.Log(math.Max(op.probs[k], mcFloor))
			}
		}
	}
	return total, nil
}

func (op *mcPassOp) DiffWRT(int) []bool { return []bool{true} }

func (op *mcPassOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &mcPassGradOp{opBase: newOpBase("MCPassLossGrad", op.dt, inputs[0].Shape(), inputs[0], grad), fwd: op}
	n, err := gorgonia.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// mcPassGradOp computes dz_{i,j} = g·(p_{i,j} Σ_c t_{i,c} − t_{i,j}) from the forward's softmax.
type mcPassGradOp struct {
	opBase
	fwd *mcPassOp
}

func (op *mcPassGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		mcPassBackward(op.fwd, float64(in[1][0]), out)
		return nil
	}, func(in [][]float64, out []float64) error {
		mcPassBackward(op.fwd, in[1][0], out)
		return nil
	})
}

func mcPassBackward[T float](f *mcPassOp, g float64, dz []T) {
	c := f.classes
	for i := 0; i < f.rows; i++ {
		t, p := f.targets[i*c:(i+1)*c], f.probs[i*c:(i+1)*c]
		var s float64
		for _, v := range t {
			s += v
		}
		for j := range t {
			dz[i*c+j] = T(g * (p[j]*s - t[j]))
		}
	}
}
