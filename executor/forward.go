package executor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Noise says how a forward pass fills the net's noise inputs (Net.Noise). The zero value gives
// zero noise: the deterministic net.
type Noise struct {
	// Rand, when set, draws fresh noise for every pass: Mean + Scale·N(0, 1) for RandomNormalLike,
	// U[Low, High) for RandomUniformLike.
	Rand *rand.Rand
	// Values fixes the noise of some inputs, by NoiseInput.Name; the tensors are copied.
	Values map[string]*tensor.Dense
}

// executor runs a Net's compiled program: a schedule whose buffers come from the net's arena, or
// (BuildOptions.KeepValues) Gorgonia's tape machine; neither when every root is a leaf.
type executor struct {
	sched *schedule
	vm    gorgonia.VM
}

// Run computes the net's outputs for the given inputs (by ONNX name, every graph input; float32 or
// float64 tensors of exactly the shapes the net was built for). It returns copies of the outputs,
// a scalar output as a tensor of shape (). When the net has a loss (Grad), Run computes it and the
// gradients too, so labels must be set.
func (n *Net) Run(feeds map[string]*tensor.Dense, noise Noise) ([]*tensor.Dense, error) {
	if err := n.Forward(feeds, noise); err != nil {
		return nil, err
	}
	outs := make([]*tensor.Dense, len(n.Outputs))
	for i, o := range n.Outputs {
		d, err := denseCopy(o.Value())
		if err != nil {
			return nil, fmt.Errorf("executor: output %q: %w", n.OutputNames[i], err)
		}
		outs[i] = d
	}
	return outs, nil
}

// Forward binds the inputs and the noise and runs the compiled program once: the forward pass,
// and, when Grad was called, the loss and its gradients. Afterwards the outputs, the loss and the
// gradients hold their values (node.Value()) until the next Forward overwrites them; other nodes
// hold theirs only with BuildOptions.KeepValues (by default their buffers are reused during the
// pass, see Arena).
func (n *Net) Forward(feeds map[string]*tensor.Dense, noise Noise) error {
	if n.exec == nil && n.arena != nil {
		// A pooled net compiles first: the schedule says which noise inputs it fills lazily.
		if err := n.compile(); err != nil {
			return err
		}
	}
	if err := n.bindInputs(feeds); err != nil {
		return err
	}
	if err := n.bindNoise(noise); err != nil {
		return err
	}
	if n.exec == nil {
		if err := n.compile(); err != nil {
			return err
		}
	}
	return n.exec.run()
}

func (e *executor) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("executor: forward pass: %v", r)
		}
	}()
	if e.sched != nil {
		if err := e.sched.run(); err != nil {
			return fmt.Errorf("executor: forward pass: %w", err)
		}
		return nil
	}
	if e.vm == nil {
		return nil
	}
	e.vm.Reset()
	if err := e.vm.RunAll(); err != nil {
		return fmt.Errorf("executor: forward pass: %w", err)
	}
	return nil
}

// Compile makes the net's program now instead of on the first Forward, so that start-up work is
// done before the first step (a net already compiled is left as it is). Grad, if used, must come
// first.
func (n *Net) Compile() error {
	if n.exec != nil {
		return nil
	}
	return n.compile()
}

// compile makes the net's program: the nodes needed for the outputs, the loss and the gradients.
func (n *Net) compile() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("executor: compile: %v", r)
		}
	}()
	var roots gorgonia.Nodes
	for _, r := range append(append(append(gorgonia.Nodes{}, n.Outputs...), n.Loss), n.Grads...) {
		// Inputs and constants hold their values already: only op nodes need the program.
		if r == nil || r.Op() == nil {
			continue
		}
		if _, isConst := r.Op().(interface{ Value() gorgonia.Value }); !isConst {
			roots = append(roots, r)
		}
	}
	if len(roots) == 0 {
		n.exec = &executor{}
		return nil
	}
	if n.arena != nil {
		// The schedule runs the roots in this order (Set sorts by address).
		seen := map[*gorgonia.Node]bool{}
		var uniq gorgonia.Nodes
		for _, r := range roots {
			if !seen[r] {
				seen[r] = true
				uniq = append(uniq, r)
			}
		}
		roots = uniq
		var noise []*gorgonia.Node
		for _, in := range n.Noise {
			if in.Node.Shape().Dims() > 0 {
				noise = append(noise, in.Node)
			}
		}
		sched, err := newSchedule(roots, n.arena, noise...)
		if err != nil {
			return fmt.Errorf("executor: compile: %w", err)
		}
		n.lazyNoise = map[*gorgonia.Node]*pendingNoise{}
		for _, node := range sched.lazyNodes() {
			n.lazyNoise[node] = &pendingNoise{}
		}
		sched.fill = func(node *gorgonia.Node, d *tensor.Dense) error { return n.lazyNoise[node].fillInto(d) }
		n.exec = &executor{sched: sched}
		return nil
	}
	roots = roots.Set()
	sub := n.Graph.ExactSubgraphRoots(roots...)
	prog, locMap, err := gorgonia.CompileFunction(n.Graph, sub.Inputs(), roots)
	if err != nil {
		return fmt.Errorf("executor: compile: %w", err)
	}
	opts := []gorgonia.VMOpt{gorgonia.WithPrecompiled(prog, locMap)}
	if !n.training {
		opts = append(opts, gorgonia.EvalMode())
	}
	n.exec = &executor{vm: gorgonia.NewTapeMachine(n.Graph, opts...)}
	return nil
}

// bindInputs copies the feeds into the buffers bound to the input nodes.
func (n *Net) bindInputs(feeds map[string]*tensor.Dense) error {
	for name := range feeds {
		if _, ok := n.Inputs[name]; !ok {
			return fmt.Errorf("executor: %q is not an input of the net (inputs: %s)", name, strings.Join(n.InputNames, ", "))
		}
	}
	for _, name := range n.InputNames {
		f, ok := feeds[name]
		if !ok || f == nil {
			return fmt.Errorf("executor: input %q is not fed", name)
		}
		if err := n.fill(n.Inputs[name], f); err != nil {
			return fmt.Errorf("executor: input %q: %w", name, err)
		}
	}
	return nil
}

// fill copies src into the value bound to an input node, allocating it on first use.
func (n *Net) fill(node *gorgonia.Node, src *tensor.Dense) error {
	want := node.Shape()
	got := src.Shape()
	if !got.Eq(want) && !(got.IsScalarEquiv() && want.IsScalarEquiv() && size(got) == size(want)) {
		return fmt.Errorf("shape %v, the net was built for %v", got, want)
	}
	if src.IsMaterializable() {
		src = src.Materialize().(*tensor.Dense)
	}
	if want.Dims() == 0 {
		return n.letScalar(node, toFloat64(src)[0])
	}
	dst, err := n.inputBuffer(node)
	if err != nil {
		return err
	}
	return copyTensor(dst, src)
}

// copyTensor copies the elements of a materialized src into dst, converting the element type.
func copyTensor(dst, src *tensor.Dense) error {
	switch s := src.Data().(type) {
	case []float32:
		return copyInto(dst, s)
	case []float64:
		return copyInto(dst, s)
	case float32:
		return copyInto(dst, []float32{s})
	case float64:
		return copyInto(dst, []float64{s})
	}
	return fmt.Errorf("element type %v is not supported (float32 and float64 are)", src.Dtype())
}

// inputBuffer returns the tensor bound to an input node, binding a new one on first use.
func (n *Net) inputBuffer(node *gorgonia.Node) (*tensor.Dense, error) {
	if d, ok := node.Value().(*tensor.Dense); ok && d != nil {
		return d, nil
	}
	s := size(node.Shape())
	var d *tensor.Dense
	if n.dt == tensor.Float64 {
		d = tensor.New(tensor.WithShape(s), tensor.WithBacking(make([]float64, s)))
	} else {
		d = tensor.New(tensor.WithShape(s), tensor.WithBacking(make([]float32, s)))
	}
	if err := d.Reshape(node.Shape()...); err != nil {
		return nil, err
	}
	if err := gorgonia.Let(node, d); err != nil {
		return nil, err
	}
	return d, nil
}

func copyInto[S float](dst *tensor.Dense, src []S) error {
	switch d := dst.Data().(type) {
	case []float32:
		for i, v := range src {
			d[i] = float32(v)
		}
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
	default:
		return fmt.Errorf("executor: input buffer of type %T", d)
	}
	return nil
}

// bindNoise fills the noise inputs.
func (n *Net) bindNoise(noise Noise) error {
	for name := range noise.Values {
		found := false
		for _, in := range n.Noise {
			found = found || in.Name == name
		}
		if !found {
			return fmt.Errorf("executor: noise value %q names no RandomNormalLike/RandomUniformLike output of the net", name)
		}
	}
	for _, in := range n.Noise {
		if in.Node.Shape().Dims() == 0 {
			if err := n.fillScalarNoise(in, noise); err != nil {
				return err
			}
			continue
		}
		if p, ok := n.lazyNoise[in.Node]; ok {
			if err := p.prepare(in, noise); err != nil {
				return fmt.Errorf("executor: noise %q: %w", in.Name, err)
			}
			continue
		}
		if v, ok := noise.Values[in.Name]; ok {
			if err := n.fill(in.Node, v); err != nil {
				return fmt.Errorf("executor: noise %q: %w", in.Name, err)
			}
			continue
		}
		d, err := n.inputBuffer(in.Node)
		if err != nil {
			return err
		}
		switch x := d.Data().(type) {
		case []float32:
			drawNoise(x, in, noise.Rand)
		case []float64:
			drawNoise(x, in, noise.Rand)
		}
	}
	return nil
}

func (n *Net) fillScalarNoise(in NoiseInput, noise Noise) error {
	x := []float64{0}
	if v, ok := noise.Values[in.Name]; ok {
		d, err := denseCopy(v)
		if err != nil || size(d.Shape()) != 1 {
			return fmt.Errorf("executor: noise %q: want one value, got shape %v", in.Name, v.Shape())
		}
		x[0] = toFloat64(d)[0]
	} else {
		drawNoise(x, in, noise.Rand)
	}
	return n.letScalar(in.Node, x[0])
}

// letScalar binds a scalar of the net's type to a rank-0 input node.
func (n *Net) letScalar(node *gorgonia.Node, x float64) error {
	var v gorgonia.Value = gorgonia.NewF64(x)
	if n.dt == tensor.Float32 {
		v = gorgonia.NewF32(float32(x))
	}
	return gorgonia.Let(node, v)
}

func drawNoise[T float](x []T, in NoiseInput, r *rand.Rand) {
	if r == nil {
		clear(x)
		return
	}
	if in.Kind == NoiseUniform {
		for i := range x {
			x[i] = T(in.Low + (in.High-in.Low)*r.Float64())
		}
		return
	}
	if len(x) <= noiseChunk {
		for i := range x {
			x[i] = T(in.Mean + in.Scale*r.NormFloat64())
		}
		return
	}
	// Large tensors: each chunk of noiseChunk values draws from its own generator, seeded in
	// order from r, so the values depend on r alone (not on GOMAXPROCS) and chunks fill in parallel.
	fillNormal(x, normalSeeds(len(x), r), in)
}

// normalSeeds draws the seeds of the chunks of n Gaussian values from r.
func normalSeeds(n int, r *rand.Rand) [][2]uint64 {
	seeds := make([][2]uint64, (n+noiseChunk-1)/noiseChunk)
	for i := range seeds {
		seeds[i] = [2]uint64{r.Uint64(), r.Uint64()}
	}
	return seeds
}

// fillNormal fills x from the chunks' seeds, chunks in parallel.
func fillNormal[T float](x []T, seeds [][2]uint64, in NoiseInput) {
	parallelN(len(seeds), runtime.GOMAXPROCS(0), func(lo, hi int) {
		fillNormalChunks(x, seeds, lo, hi, in.Mean, in.Scale)
	})
}

// noiseChunk is the number of Gaussian noise values drawn from one generator.
const noiseChunk = 1 << 16

// denseCopy returns a fresh dense copy of a value (a scalar becomes a shape-() tensor).
func denseCopy(v gorgonia.Value) (*tensor.Dense, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.IsMaterializable() {
			return x.Materialize().(*tensor.Dense).Clone().(*tensor.Dense), nil
		}
		return x.Clone().(*tensor.Dense), nil
	case *gorgonia.F32:
		return tensor.New(tensor.FromScalar(float32(*x))), nil
	case *gorgonia.F64:
		return tensor.New(tensor.FromScalar(float64(*x))), nil
	case nil:
		return nil, fmt.Errorf("no value (was Forward run?)")
	}
	return nil, fmt.Errorf("value of type %T is not supported", v)
}

// toFloat64 returns the elements of a float tensor as float64.
func toFloat64(d *tensor.Dense) []float64 {
	switch x := d.Data().(type) {
	case []float64:
		return append([]float64(nil), x...)
	case []float32:
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out
	case float64:
		return []float64{x}
	case float32:
		return []float64{float64(x)}
	}
	return nil
}

// SetTraining switches the ops that have a training mode (BatchNormalization: batch statistics
// and running-statistics updates in training, running statistics in evaluation).
func (n *Net) SetTraining(training bool) {
	n.training = training
	for _, f := range n.modeHooks {
		f(training)
	}
}

// Training reports the net's mode.
func (n *Net) Training() bool { return n.training }
