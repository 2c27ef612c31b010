package xreg

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// phiPasses computes cross-regularization's φ loss — the MC NLL of K noisy passes over a
// regularization batch of n examples (executor.Net.MCNLL) — and its gradient with respect to φ
// with nets whose activations are those of about n rows, not K·n, so that the φ update needs no
// more memory than a training step. Two exact schemes:
//
//   - per example (BatchNorm on its running statistics, RegBatchNorm "eval"): no op couples the
//     examples of a batch, so the loss is a sum over examples. The batch is split into chunks of
//     ⌈n/K⌉ examples, each run with all its K passes in one net of K·⌈n/K⌉ rows (≈ n), each
//     example weighted 1/n (padding rows of the last chunk 0); the chunks' losses and gradients
//     add up to the K·n batch's. Same arithmetic as one K·n batch, no extra pass.
//   - per pass (batch statistics, RegBatchNorm "batch"): each pass is normalized over its own n
//     examples, as a training step is. Phase 1 runs the K passes through a forward-only net and
//     records their probabilities, phase 2 reruns them with the same noise through the gradient
//     net with executor.MCPasses' surrogate loss, summing the gradients: K extra forward passes.
type phiPasses struct {
	k, n int
	// chunk is the number of examples per net in the per-example scheme (0: per-pass scheme).
	chunk  int
	net    *executor.Net // gradient net
	fwd    *executor.Net // forward-only net of the per-pass scheme
	passes *executor.MCPasses
	input  string
	outIdx int
	phi    []string
	grads  map[string][]float64
	x      *tensor.Dense // the nets' input buffer
}

// phiOptions configures newPhiPasses.
type phiOptions struct {
	k, n int
	// batchStats: BatchNorm uses each pass's batch statistics (RegBatchNorm "batch").
	batchStats    bool
	float64       bool
	values        map[string]*tensor.Dense
	weights       onnximport.WeightOptions
	input, output string
	phi           []string
	// arena lends the nets' op output buffers (shared with the trainer's other nets).
	arena *executor.Arena
}

func newPhiPasses(m *onnximport.Model, o phiOptions) (*phiPasses, error) {
	if o.k < 1 || o.n < 1 {
		return nil, fmt.Errorf("φ passes: K = %d passes over %d examples", o.k, o.n)
	}
	p := &phiPasses{k: o.k, n: o.n, input: o.input, phi: o.phi, grads: map[string][]float64{}}
	rows := o.n
	if !o.batchStats {
		p.chunk = (o.n + o.k - 1) / o.k
		rows = o.k * p.chunk
	}
	build := func(values map[string]*tensor.Dense) (*executor.Net, error) {
		net, err := executor.Build(m, executor.BuildOptions{Batch: rows, Float64: o.float64, Values: values, Weights: o.weights, Arena: o.arena})
		if err != nil {
			return nil, err
		}
		if o.batchStats {
			net.SetBatchNormMode(kernels.TrainFrozen)
		}
		return net, nil
	}
	var err error
	if p.net, err = build(o.values); err != nil {
		return nil, err
	}
	var loss = p.net.Loss
	if o.batchStats {
		if p.passes, err = p.net.MCPassLoss(o.output, o.k, 0); err != nil {
			return nil, err
		}
		loss = p.passes.Loss
		if p.fwd, err = build(p.net.Values); err != nil {
			return nil, err
		}
		p.outIdx = -1
		for i, name := range p.fwd.OutputNames {
			if name == o.output {
				p.outIdx = i
			}
		}
	} else if loss, err = p.net.MCNLL(o.output, o.k, 0); err != nil {
		return nil, err
	}
	if err := p.net.Grad(loss, o.phi...); err != nil {
		return nil, err
	}
	in, ok := p.net.Inputs[o.input]
	if !ok {
		return nil, fmt.Errorf("φ passes: the net has no input %q", o.input)
	}
	p.x = tensor.New(tensor.WithShape(in.Shape()...), tensor.WithBacking(make([]float32, in.Shape().TotalSize())))
	return p, nil
}

// units is the number of nets run per phase: chunks (per-example scheme) or passes (per-pass).
// Each unit has its own noise.
func (p *phiPasses) units() int {
	if p.chunk > 0 {
		return (p.n + p.chunk - 1) / p.chunk
	}
	return p.k
}

// rowsOf returns, for each row of the nets in unit u, the row of the K·n layout of
// executor.Net.MCNLL it computes (pass r of example i: r·n + i), or −1 for a padding row.
func (p *phiPasses) rowsOf(u int) []int {
	if p.chunk == 0 {
		rows := make([]int, p.n)
		for i := range rows {
			rows[i] = u*p.n + i
		}
		return rows
	}
	rows := make([]int, p.k*p.chunk)
	for r := 0; r < p.k; r++ {
		for i := 0; i < p.chunk; i++ {
			e := u*p.chunk + i
			rows[r*p.chunk+i] = -1
			if e < p.n {
				rows[r*p.chunk+i] = r*p.n + e
			}
		}
	}
	return rows
}

// run computes the φ loss of the n examples x (n·d values, example-major) with their labels, and
// leaves its gradient in p.grads. noise(u) gives the noise of unit u; the per-pass scheme asks for
// each unit twice and needs the same noise both times.
func (p *phiPasses) run(x []float32, d int, labels []int, noise func(u int) executor.Noise) (float64, error) {
	if len(x) != p.n*d || len(labels) != p.n || p.x.Shape().TotalSize() != len(p.rowsOf(0))*d {
		return 0, fmt.Errorf("φ passes: %d values and %d labels for %d examples of %d values (net input %v)", len(x), len(labels), p.n, d, p.x.Shape())
	}
	for _, name := range p.phi {
		clear(p.grads[name])
	}
	feeds := map[string]*tensor.Dense{p.input: p.x}
	if p.chunk == 0 {
		return p.runPasses(x, labels, feeds, noise)
	}
	xs := p.x.Float32s()
	lab, w := make([]int, p.chunk), make([]float64, p.chunk)
	var loss float64
	for u := 0; u < p.units(); u++ {
		for i := 0; i < p.chunk; i++ {
			e, wi := u*p.chunk+i, 1/float64(p.n)
			if e >= p.n { // padding: any real example, weight 0
				e, wi = p.n-1, 0
			}
			lab[i], w[i] = labels[e], wi
			for r := 0; r < p.k; r++ {
				copy(xs[(r*p.chunk+i)*d:(r*p.chunk+i+1)*d], x[e*d:(e+1)*d])
			}
		}
		if err := p.net.SetMCLabels(lab); err != nil {
			return 0, err
		}
		if err := p.net.SetMCWeights(w); err != nil {
			return 0, err
		}
		if err := p.net.Forward(feeds, noise(u)); err != nil {
			return 0, err
		}
		l, err := p.net.LossValue()
		if err != nil {
			return 0, err
		}
		loss += l
		if err := p.accumulate(); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

// runPasses is run's per-pass scheme.
func (p *phiPasses) runPasses(x []float32, labels []int, feeds map[string]*tensor.Dense, noise func(u int) executor.Noise) (float64, error) {
	copy(p.x.Float32s(), x)
	if err := p.passes.SetLabels(labels); err != nil {
		return 0, err
	}
	if p.outIdx < 0 {
		return 0, fmt.Errorf("φ passes: the forward-only net lacks the logits output")
	}
	for u := 0; u < p.k; u++ {
		if err := p.fwd.Forward(feeds, noise(u)); err != nil {
			return 0, err
		}
		z, ok := p.fwd.Outputs[p.outIdx].Value().(*tensor.Dense)
		if !ok {
			return 0, fmt.Errorf("φ passes: the logits of pass %d have no tensor value", u)
		}
		if err := p.passes.Observe(u, z); err != nil {
			return 0, err
		}
	}
	loss, err := p.passes.Value()
	if err != nil {
		return 0, err
	}
	for u := 0; u < p.k; u++ {
		if err := p.passes.SetPass(u); err != nil {
			return 0, err
		}
		if err := p.net.Forward(feeds, noise(u)); err != nil {
			return 0, err
		}
		if err := p.accumulate(); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

// accumulate adds the gradient net's φ gradients to p.grads.
func (p *phiPasses) accumulate() error {
	for _, name := range p.phi {
		g, err := p.net.GradValue(name)
		if err != nil {
			return err
		}
		acc := p.grads[name]
		if len(acc) != g.Shape().TotalSize() {
			acc = make([]float64, g.Shape().TotalSize())
			p.grads[name] = acc
		}
		switch v := g.Data().(type) {
		case []float32:
			for i, x := range v {
				acc[i] += float64(x)
			}
		case []float64:
			for i, x := range v {
				acc[i] += x
			}
		default:
			return fmt.Errorf("φ passes: gradient of %q of type %T", name, v)
		}
	}
	return nil
}
