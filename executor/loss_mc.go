package executor

import (
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MCNLL adds the loss of cross-regularization's regularization step (and, with k = 1, the training
// loss): the output's rows are k Monte-Carlo passes over the same n examples, replica-major (row
// r·n + i is pass r of example i). The loss is the mean over examples of the negative log of the
// pass-averaged softmax probability of the label:
//
//	p̄_i = (1/k) Σ_r softmax(z_{r,i}),   L = −(1/n) Σ_i Σ_c q_{i,c} log p̄_{i,c}
//
// with q the one-hot label smoothed by smoothing (q = (1−ε)·onehot + ε/C). With k = 1 this is the
// usual (label-smoothed) softmax cross-entropy. Labels are set per pass with SetMCLabels.
func (n *Net) MCNLL(output string, k int, smoothing float64) (*gorgonia.Node, error) {
	var logits *gorgonia.Node
	for i, name := range n.OutputNames {
		if name == output {
			logits = n.Outputs[i]
		}
	}
	if logits == nil {
		return nil, fmt.Errorf("executor: MC NLL: %q is not an output of the net (outputs: %s)", output, strings.Join(n.OutputNames, ", "))
	}
	s := logits.Shape()
	if s.Dims() != 2 || k < 1 || s[0]%k != 0 {
		return nil, fmt.Errorf("executor: MC NLL: output %q has shape %v, want (k·batch, classes) with k = %d", output, s, k)
	}
	if smoothing < 0 || smoothing >= 1 {
		return nil, fmt.Errorf("executor: MC NLL: label smoothing %v outside [0, 1)", smoothing)
	}
	op := &mcNLLOp{opBase: newOpBase("MCNLL", n.dt, tensor.ScalarShape(), logits),
		k: k, rows: s[0] / k, classes: s[1], smoothing: smoothing}
	loss, err := gorgonia.ApplyOp(op, logits)
	if err != nil {
		return nil, fmt.Errorf("executor: MC NLL: %w", err)
	}
	n.mc = op
	return loss, nil
}

// SetMCLabels sets the label of each example of the MC NLL loss (n labels, not k·n).
func (n *Net) SetMCLabels(labels []int) error {
	if n.mc == nil {
		return fmt.Errorf("executor: SetMCLabels: the net has no MC NLL loss")
	}
	if len(labels) != n.mc.rows {
		return fmt.Errorf("executor: SetMCLabels: %d labels for %d examples", len(labels), n.mc.rows)
	}
	for i, l := range labels {
		if l < 0 || l >= n.mc.classes {
			return fmt.Errorf("executor: SetMCLabels: label %d of example %d is outside [0, %d)", l, i, n.mc.classes)
		}
	}
	n.mc.labels = append(n.mc.labels[:0], labels...)
	return nil
}

// SetMCWeights weights the examples of the MC NLL loss: L = −Σ_i w_i Σ_c q_{i,c} log p̄_{i,c}
// instead of the mean (w_i = 1/n). A weight may be 0 (a padding row). nil restores the mean.
// Splitting a batch into parts weighted by 1/n_total makes the parts' losses and gradients sum to
// the whole batch's when the examples do not interact (no batch statistics).
func (n *Net) SetMCWeights(w []float64) error {
	if n.mc == nil {
		return fmt.Errorf("executor: SetMCWeights: the net has no MC NLL loss")
	}
	if w == nil {
		n.mc.weights = nil
		return nil
	}
	if len(w) != n.mc.rows {
		return fmt.Errorf("executor: SetMCWeights: %d weights for %d examples", len(w), n.mc.rows)
	}
	for i, v := range w {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("executor: SetMCWeights: weight %v of example %d is not a finite non-negative number", v, i)
		}
	}
	n.mc.weights = append(n.mc.weights[:0], w...)
	return nil
}

type mcNLLOp struct {
	opBase
	k, rows, classes int
	smoothing        float64
	labels           []int
	// weights are the examples' weights (nil: 1/rows each; SetMCWeights).
	weights []float64
	// probs holds softmax(z) of the last forward (k·rows·classes) and mean the pass average
	// (rows·classes), for the backward pass.
	probs, mean []float64
}

func (op *mcNLLOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(op.labels) != op.rows {
		return nil, fmt.Errorf("executor: MC NLL: labels are not set (Net.SetMCLabels)")
	}
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		out[0] = float32(mcForward(op, in[0]))
		return nil
	}, func(in [][]float64, out []float64) error {
		out[0] = mcForward(op, in[0])
		return nil
	})
}

// mcFloor keeps log p̄ finite when every pass gives a class zero probability.
const mcFloor = 1e-300

func mcForward[T float](op *mcNLLOp, z []T) float64 {
	c, rows, k := op.classes, op.rows, op.k
	if len(op.probs) != k*rows*c {
		op.probs = make([]float64, k*rows*c)
		op.mean = make([]float64, rows*c)
	}
	clear(op.mean)
	for r := 0; r < k*rows; r++ {
		row := z[r*c : (r+1)*c]
		p := op.probs[r*c : (r+1)*c]
		mx := float64(row[0])
		for _, v := range row[1:] {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for j, v := range row {
			p[j] = math.Exp(float64(v) - mx)
			s += p[j]
		}
		m := op.mean[(r%rows)*c : (r%rows+1)*c]
		for j := range p {
			p[j] /= s
			m[j] += p[j] / float64(k)
		}
	}
	var total float64
	eps := op.smoothing
	for i := 0; i < rows; i++ {
		w := op.weight(i)
		if w == 0 {
			continue
		}
		m := op.mean[i*c : (i+1)*c]
		var l float64
		l -= (1 - eps) * math.Log(math.Max(m[op.labels[i]], mcFloor))
		if eps > 0 {
			for _, v := range m {
				l -= eps / float64(c) * math.Log(math.Max(v, mcFloor))
			}
		}
		total += w * l
	}
	return total
}

// weight returns the weight of example i in the loss.
func (op *mcNLLOp) weight(i int) float64 {
	if op.weights == nil {
		return 1 / float64(op.rows)
	}
	return op.weights[i]
}

func (op *mcNLLOp) DiffWRT(int) []bool { return []bool{true} }

func (op *mcNLLOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &mcNLLGradOp{opBase: newOpBase("MCNLLGrad", op.dt, inputs[0].Shape(), inputs[0], grad), fwd: op}
	n, err := gorgonia.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// mcNLLGradOp computes dL/dz from the probabilities the forward pass kept:
// with a_{r,i,c} = −w_i·q_{i,c}·p_{r,i,c} / (k·p̄_{i,c}) (w_i = 1/n unless SetMCWeights), dz_{r,i,j} = a_{r,i,j} − p_{r,i,j}·Σ_c a_{r,i,c}.
type mcNLLGradOp struct {
	opBase
	fwd *mcNLLOp
}

func (op *mcNLLGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		mcBackward(op.fwd, float64(in[1][0]), out)
		return nil
	}, func(in [][]float64, out []float64) error {
		mcBackward(op.fwd, in[1][0], out)
		return nil
	})
}

func mcBackward[T float](f *mcNLLOp, g float64, dz []T) {
	c, rows, k := f.classes, f.rows, f.k
	eps := f.smoothing
	a := make([]float64, c)
	for r := 0; r < k*rows; r++ {
		i := r % rows
		w := f.weight(i)
		p := f.probs[r*c : (r+1)*c]
		m := f.mean[i*c : (i+1)*c]
		var sum float64
		for j := range a {
			q := eps / float64(c)
			if j == f.labels[i] {
				q += 1 - eps
			}
			a[j] = 0
			if q != 0 && w != 0 {
				a[j] = -w * q * p[j] / (float64(k) * math.Max(m[j], mcFloor))
			}
			sum += a[j]
		}
		out := dz[r*c : (r+1)*c]
		for j := range out {
			out[j] = T(g * (a[j] - p[j]*sum))
		}
	}
}
