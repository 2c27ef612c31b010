package executor

import (
	"fmt"
	"sort"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// BuildOptions configures Build.
type BuildOptions struct {
	// Batch replaces every symbolic or unknown dimension of the graph inputs (default 1).
	Batch int
	// InputShapes overrides the shape of named graph inputs.
	InputShapes map[string][]int
	// Float64 builds the graph in float64 (finite-difference checks); default float32.
	Float64 bool
	// Training makes BatchNormalization use batch statistics and update its running statistics.
	Training bool
	// Values binds initializers to existing tensors, so that several Nets (e.g. one per batch size)
	// share parameters and running statistics. Missing names are created from the model.
	Values map[string]*tensor.Dense
	// Weights says which values besides the float initializers are params or state (see
	// onnximport.Model.Weights): Identity outputs of initializers, Constant nodes feeding weight
	// slots, and what Weights.Select picks.
	Weights onnximport.WeightOptions
	// Arena lends the output buffers of the net's ops (see Arena); nets that run one after
	// another (a trainer's) share one so that their peak memory is the largest pass, not the sum.
	// Nil: the net gets an arena of its own.
	Arena *Arena
	// KeepValues makes every node keep its value (node.Value()) after Forward, each op in a buffer
	// of its own: the memory of every intermediate value of the graph at once. By default only
	// the outputs, the loss and the gradients are kept; other buffers are reused within a pass.
	KeepValues bool
}

// Net is an ONNX graph built as a Gorgonia expression graph.
type Net struct {
	Graph *gorgonia.ExprGraph
	// Inputs are the graph inputs' nodes, by ONNX name, in InputNames order.
	Inputs     map[string]*gorgonia.Node
	InputNames []string
	// Outputs are the graph outputs' nodes, in OutputNames order.
	Outputs     []*gorgonia.Node
	OutputNames []string
	// Params are the learnable nodes (float initializers used as op data), by ONNX initializer name;
	// ParamNames lists them sorted.
	Params     map[string]*gorgonia.Node
	ParamNames []string
	// Values holds the tensor of every float initializer the net uses (parameters and running
	// statistics), shared with the Values option of other Builds.
	Values map[string]*tensor.Dense
	// State names the initializers that are running statistics (BatchNorm mean and variance):
	// updated by a training-mode forward pass, never by a gradient.
	State map[string]bool
	// Shapes holds the static shape of every ONNX value the net computes (inputs and node
	// outputs, not folded constants), at the batch size it was built for.
	Shapes map[string][]int
	// Noise lists the model's RandomNormalLike/RandomUniformLike nodes, which the net turns into
	// inputs that Run fills (see NoiseInput).
	Noise []NoiseInput

	// Loss is the scalar node Grad differentiated, GradNames the params it was differentiated
	// with respect to, and Grads their gradient nodes (values valid after Forward).
	Loss      *gorgonia.Node
	GradNames []string
	Grads     []*gorgonia.Node

	dt       tensor.Dtype
	training bool
	// modeHooks switch the mode of ops that have one (BatchNorm); see builder.OnTraining.
	modeHooks []func(training bool)
	// xent is the cross-entropy op whose labels SetLabels sets.
	xent *xentOp
	mc   *mcNLLOp // MCNLL loss (loss_mc.go)
	// exec is the compiled program, made on the first Forward.
	exec *executor
	// arena lends the ops' output buffers; nil with BuildOptions.KeepValues.
	arena *Arena
	// lazyNoise are the noise inputs a pooled net fills in a lent buffer just before their first
	// reader runs (and gives back after the last), with what bindNoise prepared.
	lazyNoise map[*gorgonia.Node]*pendingNoise
}

// Build turns a validated model into a Gorgonia graph.
func Build(m *onnximport.Model, opt BuildOptions) (*Net, error) {
	if opt.Batch <= 0 {
		opt.Batch = 1
	}
	dt := tensor.Float32
	if opt.Float64 {
		dt = tensor.Float64
	}
	b := &builder{
		g:      gorgonia.NewGraph(),
		model:  m,
		opt:    opt,
		dt:     dt,
		vals:   map[string]*gorgonia.Node{},
		consts: map[string]*onnximport.Tensor{},
	}
	b.net = &Net{
		Graph:    b.g,
		Inputs:   map[string]*gorgonia.Node{},
		Params:   map[string]*gorgonia.Node{},
		Values:   map[string]*tensor.Dense{},
		State:    map[string]bool{},
		dt:       dt,
		training: opt.Training,
		arena:    opt.Arena,
	}
	if opt.KeepValues {
		b.net.arena = nil
	} else if b.net.arena == nil {
		b.net.arena = NewArena()
	}
	for name, t := range m.Graph.Initializers {
		b.consts[name] = t
	}
	weights, _, err := m.Weights(opt.Weights)
	if err != nil {
		return nil, fmt.Errorf("xreg: %w", err)
	}
	b.weights = map[string]*onnximport.Tensor{}
	for _, w := range weights {
		if w.Store != onnximport.StoreInitializer {
			b.weights[w.Name] = w.Value
		}
	}
	for name, t := range m.Graph.Constants {
		b.consts[name] = t
	}
	for _, in := range m.Graph.Inputs {
		shape, err := b.inputShape(in)
		if err != nil {
			return nil, err
		}
		node := gorgonia.NewTensor(b.g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(in.Name))
		b.vals[in.Name] = node
		b.net.Inputs[in.Name] = node
		b.net.InputNames = append(b.net.InputNames, in.Name)
	}
	for _, n := range m.Graph.Nodes {
		folded, err := b.foldConst(n)
		if err != nil {
			return nil, fmt.Errorf("executor: %w", err)
		}
		if folded {
			continue
		}
		f, ok := opBuilders[n.OpType]
		if !ok {
			return nil, fmt.Errorf("executor: %v: op %s has no Gorgonia builder (model opset %d)", n, n.OpType, m.Opset)
		}
		if err := f(b, n); err != nil {
			return nil, fmt.Errorf("executor: %w (model opset %d)", err, m.Opset)
		}
	}
	for _, out := range m.Graph.Outputs {
		v, err := b.Input(&onnximport.Node{Name: "graph output", OpType: "Output", Inputs: []string{out.Name}}, 0)
		if err != nil {
			return nil, fmt.Errorf("executor: graph output %q: %w", out.Name, err)
		}
		b.net.Outputs = append(b.net.Outputs, v)
		b.net.OutputNames = append(b.net.OutputNames, out.Name)
	}
	for name := range b.net.Params {
		b.net.ParamNames = append(b.net.ParamNames, name)
	}
	b.net.Shapes = make(map[string][]int, len(b.vals))
	for name, v := range b.vals {
		b.net.Shapes[name] = append([]int{}, v.Shape()...)
	}
	sort.Strings(b.net.ParamNames)
	return b.net, nil
}

func (b *builder) inputShape(in *onnximport.Value) ([]int, error) {
	if s, ok := b.opt.InputShapes[in.Name]; ok {
		return checkNotEmpty(in.Name, append([]int(nil), s...))
	}
	if !in.HasShape {
		return nil, fmt.Errorf("executor: graph input %q declares no shape; pass it in BuildOptions.InputShapes", in.Name)
	}
	shape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		if d < 0 {
			d = b.opt.Batch
		}
		shape[i] = d
	}
	return checkNotEmpty(in.Name, shape)
}

func checkNotEmpty(name string, shape []int) ([]int, error) {
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("executor: graph input %q has shape %v: empty tensors are not supported", name, shape)
		}
	}
	return shape, nil
}

// value returns the shared tensor for a float initializer, creating it from the model if needed.
func (b *builder) value(t *onnximport.Tensor) (*tensor.Dense, error) {
	if v, ok := b.net.Values[t.Name]; ok {
		return v, nil
	}
	if v, ok := b.opt.Values[t.Name]; ok {
		if !v.Shape().Eq(tensor.Shape(t.Dims)) && !(len(t.Dims) == 0 && v.Shape().IsScalarEquiv()) {
			return nil, fmt.Errorf("initializer %q: shared value has shape %v, model has %v", t.Name, v.Shape(), t.Dims)
		}
		b.net.Values[t.Name] = v
		return v, nil
	}
	f := t.Floats()
	shape := tensor.Shape(append([]int(nil), t.Dims...))
	if len(shape) == 0 {
		shape = tensor.Shape{1}
	}
	var v *tensor.Dense
	if b.dt == tensor.Float64 {
		d := make([]float64, len(f))
		for i, x := range f {
			d[i] = float64(x)
		}
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	} else {
		v = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), f...)))
	}
	b.net.Values[t.Name] = v
	return v, nil
}

// param returns the learnable node of a float initializer.
func (b *builder) param(t *onnximport.Tensor) (*gorgonia.Node, error) {
	if p, ok := b.net.Params[t.Name]; ok {
		return p, nil
	}
	v, err := b.value(t)
	if err != nil {
		return nil, err
	}
	p := gorgonia.NodeFromAny(b.g, v, gorgonia.WithName(t.Name))
	b.net.Params[t.Name] = p
	b.vals[t.Name] = p
	return p, nil
}

// State returns the shared tensor of the node's i-th input as running state (not learnable).
func (b *builder) State(n *onnximport.Node, i int) (*tensor.Dense, error) {
	t, ok := b.model.Graph.Initializers[n.Input(i)]
	if w, isWeight := b.weights[n.Input(i)]; isWeight {
		t, ok = w, true
	}
	if !ok || !t.DType.IsFloat() {
		return nil, fmt.Errorf("%v: input %q must be a float initializer, a Constant or an Identity of one", n, n.Input(i))
	}
	v, err := b.value(t)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", n, err)
	}
	b.net.State[t.Name] = true
	return v, nil
}
