package executor

import (
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// CrossEntropy adds to the graph the mean over the batch of the cross-entropy between the softmax
// of a (batch, classes) logits output and integer class labels (set with SetLabels before each
// pass). The log-softmax is computed stably (max-shifted). It returns the scalar loss node, for Grad.
func (n *Net) CrossEntropy(output string) (*gorgonia.Node, error) {
	var logits *gorgonia.Node
	for i, name := range n.OutputNames {
		if name == output {
			logits = n.Outputs[i]
		}
	}
	if logits == nil {
		return nil, fmt.Errorf("executor: cross-entropy: %q is not an output of the net (outputs: %s)", output, strings.Join(n.OutputNames, ", "))
	}
	s := logits.Shape()
	if s.Dims() != 2 || s[0] == 0 || s[1] == 0 {
		return nil, fmt.Errorf("executor: cross-entropy: output %q has shape %v, want (batch, classes)", output, s)
	}
	if n.xent != nil {
		return nil, fmt.Errorf("executor: cross-entropy: the net already has a cross-entropy loss")
	}
	op := &xentOp{opBase: newOpBase("CrossEntropy", n.dt, tensor.ScalarShape(), logits), rows: s[0], classes: s[1]}
	loss, err := gorgonia.ApplyOp(op, logits)
	if err != nil {
		return nil, fmt.Errorf("executor: cross-entropy: %w", err)
	}
	n.xent = op
	return loss, nil
}

// SetLabels sets the class of each row of the cross-entropy's logits.
func (n *Net) SetLabels(labels []int) error {
	if n.xent == nil {
		return fmt.Errorf("executor: SetLabels: the net has no cross-entropy loss")
	}
	if len(labels) != n.xent.rows {
		return fmt.Errorf("executor: SetLabels: %d labels for a batch of %d", len(labels), n.xent.rows)
	}
	for i, l := range labels {
		if l < 0 || l >= n.xent.classes {
			return fmt.Errorf("executor: SetLabels: label %d of row %d is outside [0, %d)", l, i, n.xent.classes)
		}
	}
	n.xent.labels = append(n.xent.labels[:0], labels...)
	return nil
}

// xentOp is the mean softmax cross-entropy of (rows, classes) logits against op.labels.
type xentOp struct {
	opBase
	rows, classes int
	labels        []int
}

func (op *xentOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	if len(op.labels) != op.rows {
		return nil, fmt.Errorf("executor: cross-entropy: labels are not set (Net.SetLabels)")
	}
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		out[0] = xentKernel(op.rows, op.classes, op.labels, in[0])
		return nil
	}, func(in [][]float64, out []float64) error {
		out[0] = xentKernel(op.rows, op.classes, op.labels, in[0])
		return nil
	})
}

// xentKernel returns the mean over rows of logsumexp(x_row) − x_row[label], summed in float64.
func xentKernel[T float](rows, classes int, labels []int, x []T) T {
	var total float64
	for r := 0; r < rows; r++ {
		row := x[r*classes : (r+1)*classes]
		mx := row[0]
		for _, v := range row[1:] {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v - mx))
		}
		total += math.Log(s) + float64(mx) - float64(row[labels[r]])
	}
	return T(total / float64(rows))
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true} }

func (op *xentOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &xentGradOp{opBase: newOpBase("CrossEntropyGrad", op.dt, inputs[0].Shape(), inputs[0], grad), fwd: op}
	n, err := gorgonia.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// xentGradOp computes dlogits = (softmax(logits) − onehot(labels))·dloss/rows.
type xentGradOp struct {
	opBase
	fwd *xentOp
}

func (op *xentGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	f := op.fwd
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		xentGradKernel(f.rows, f.classes, f.labels, in[0], in[1][0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		xentGradKernel(f.rows, f.classes, f.labels, in[0], in[1][0], out)
		return nil
	})
}

func xentGradKernel[T float](rows, classes int, labels []int, x []T, g T, dx []T) {
	scale := g / T(rows)
	softmaxKernel(rows, classes, 1, x, dx)
	for r := 0; r < rows; r++ {
		row := dx[r*classes : (r+1)*classes]
		row[labels[r]] -= 1
		for i := range row {
			row[i] *= scale
		}
	}
}

// Grad adds to the graph the gradients of the scalar loss with respect to the named params (every
// param the loss depends on when none is named) and makes the loss and the gradients part of what
// Forward computes: after a Forward, Grads[i].Value() is the gradient of GradNames[i]. Grad can be
// called once per net (Gorgonia keeps the derivatives it computed on the nodes); build one net per
// objective, sharing the parameter values through BuildOptions.Values.
func (n *Net) Grad(loss *gorgonia.Node, params ...string) error {
	if n.Loss != nil {
		return fmt.Errorf("executor: Grad: the net already has a loss; build another net for another objective")
	}
	if n.exec != nil {
		return fmt.Errorf("executor: Grad: the net is already compiled (by Compile or a Forward) without gradients; call Grad first")
	}
	if loss == nil || !loss.IsScalar() {
		return fmt.Errorf("executor: Grad: the loss must be a scalar node")
	}
	reach := reachable(loss)
	if len(params) == 0 {
		for _, name := range n.ParamNames {
			if reach[n.Params[name]] {
				params = append(params, name)
			}
		}
	}
	wrt := make(gorgonia.Nodes, len(params))
	for i, name := range params {
		p, ok := n.Params[name]
		if !ok {
			return fmt.Errorf("executor: Grad: %q is not a param of the net", name)
		}
		if !reach[p] {
			return fmt.Errorf("executor: Grad: the loss does not depend on param %q", name)
		}
		wrt[i] = p
	}
	if len(wrt) == 0 {
		return fmt.Errorf("executor: Grad: the loss depends on no param")
	}
	grads, err := gradOf(loss, wrt)
	if err != nil {
		return fmt.Errorf("executor: Grad: %w", err)
	}
	n.Loss, n.GradNames, n.Grads = loss, append([]string(nil), params...), grads
	n.exec = nil
	return nil
}

func gradOf(loss *gorgonia.Node, wrt gorgonia.Nodes) (grads gorgonia.Nodes, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return gorgonia.Grad(loss, wrt...)
}

// reachable returns the nodes the root depends on.
func reachable(root *gorgonia.Node) map[*gorgonia.Node]bool {
	seen := map[*gorgonia.Node]bool{}
	for _, x := range root.Graph().ExactSubgraphRoots(root).AllNodes() {
		seen[x] = true
	}
	return seen
}

// LossValue returns the loss computed by the last Forward.
func (n *Net) LossValue() (float64, error) {
	if n.Loss == nil {
		return 0, fmt.Errorf("executor: the net has no loss (Grad)")
	}
	switch v := n.Loss.Value().(type) {
	case *gorgonia.F32:
		return float64(*v), nil
	case *gorgonia.F64:
		return float64(*v), nil
	}
	return 0, fmt.Errorf("executor: the loss has no value (was Forward run?)")
}

// GradValue returns the gradient of the named param computed by the last Forward. The tensor is
// owned by the net and overwritten by the next Forward.
func (n *Net) GradValue(name string) (*tensor.Dense, error) {
	for i, g := range n.GradNames {
		if g == name {
			d, ok := n.Grads[i].Value().(*tensor.Dense)
			if !ok {
				return nil, fmt.Errorf("executor: gradient of %q has no tensor value (was Forward run?)", name)
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("executor: no gradient was built for %q", name)
}
