package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// opBuilder adds the Gorgonia nodes for one ONNX node to b. It reads its inputs with b.Input /
// b.Const and publishes each output with b.Set.
type opBuilder func(b *builder, n *onnximport.Node) error

// opBuilders maps an ONNX op type to its builder; files register theirs from init functions.
var opBuilders = map[string]opBuilder{}

func register(op string, f opBuilder) {
	if _, dup := opBuilders[op]; dup {
		panic("executor: op " + op + " registered twice")
	}
	opBuilders[op] = f
}

// builder is the state of one Build: the graph under construction and the ONNX value → node map.
type builder struct {
	g     *gorgonia.ExprGraph
	model *onnximport.Model
	opt   BuildOptions
	dt    tensor.Dtype
	// vals maps an ONNX value name to its Gorgonia node.
	vals map[string]*gorgonia.Node
	// consts holds values known at build time (non-learnable initializers such as shapes and
	// axes, Constant outputs, and values folded from them).
	consts map[string]*onnximport.Tensor
	// weights are the params and state that are not initializers (Identity outputs, Constant
	// outputs), by value name: never folded, built as learnable nodes when first read.
	weights map[string]*onnximport.Tensor
	net     *Net
}

// Input returns the Gorgonia node of the node's i-th input.
func (b *builder) Input(n *onnximport.Node, i int) (*gorgonia.Node, error) {
	name := n.Input(i)
	if name == "" {
		return nil, fmt.Errorf("%v: input %d is missing", n, i)
	}
	if v, ok := b.vals[name]; ok {
		return v, nil
	}
	if t, ok := b.weights[name]; ok {
		return b.param(t)
	}
	if t, ok := b.model.Graph.Initializers[name]; ok && t.DType.IsFloat() {
		return b.param(t)
	}
	if t, ok := b.consts[name]; ok {
		v, err := b.constNode(t)
		if err != nil {
			return nil, fmt.Errorf("%v: input %q: %w", n, name, err)
		}
		b.vals[name] = v
		return v, nil
	}
	return nil, fmt.Errorf("%v: input %q has no value", n, name)
}

// Const returns the build-time value of the node's i-th input, if it has one.
func (b *builder) Const(n *onnximport.Node, i int) (*onnximport.Tensor, bool) {
	t, ok := b.consts[n.Input(i)]
	return t, ok
}

// Set publishes the node for output i of n.
func (b *builder) Set(n *onnximport.Node, i int, v *gorgonia.Node) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		b.vals[n.Outputs[i]] = v
	}
}

// SetConst publishes a build-time value for output i of n (shape arithmetic, folded constants).
func (b *builder) SetConst(n *onnximport.Node, i int, t *onnximport.Tensor) {
	if i < len(n.Outputs) && n.Outputs[i] != "" {
		c := *t
		c.Name = n.Outputs[i]
		b.consts[c.Name] = &c
	}
}

// constNode makes a constant Gorgonia node (in the build's float type) from a tensor.
func (b *builder) constNode(t *onnximport.Tensor) (*gorgonia.Node, error) {
	shape := tensor.Shape(append([]int(nil), t.Dims...))
	var backing interface{}
	switch b.dt {
	case tensor.Float64:
		f := t.Floats()
		d := make([]float64, len(f))
		for i, v := range f {
			d[i] = float64(v)
		}
		backing = d
	default:
		backing = append([]float32(nil), t.Floats()...)
	}
	// Constants are added to the graph explicitly (an op whose inputs are all constants finds no
	// graph otherwise), under their unique ONNX name: Gorgonia merges constants by name.
	name := gorgonia.WithName("const:" + t.Name)
	if len(shape) == 0 {
		switch v := backing.(type) {
		case []float64:
			return b.g.AddNode(gorgonia.NewConstant(v[0], name)), nil
		case []float32:
			return b.g.AddNode(gorgonia.NewConstant(v[0], name)), nil
		}
	}
	d := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
	return b.g.AddNode(gorgonia.NewConstant(d, name)), nil
}

// OnTraining registers f to be called with the new mode by Net.SetTraining, for ops that behave
// differently in training and evaluation (BatchNormalization). The builder sets the initial mode
// itself, from BuildOptions.Training.
func (b *builder) OnTraining(f func(training bool)) {
	b.net.modeHooks = append(b.net.modeHooks, f)
}
