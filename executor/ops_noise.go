package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	register("RandomNormalLike", noiseBuilder(NoiseNormal))
	register("RandomUniformLike", noiseBuilder(NoiseUniform))
}

// NoiseKind is the distribution of a noise input.
type NoiseKind int

// The distributions of RandomNormalLike and RandomUniformLike.
const (
	NoiseNormal NoiseKind = iota
	NoiseUniform
)

func (k NoiseKind) String() string {
	if k == NoiseUniform {
		return "uniform"
	}
	return "normal"
}

// NoiseInput is a RandomNormalLike or RandomUniformLike node of the model. Inside the net it is
// not random: it is an input node that Run fills before each pass (fresh draws, zeros, or values
// the caller fixes). Gradients then flow through the noise as through any other input, which is
// the reparameterization trick: y = x + exp(log σ)·ε is differentiable in log σ.
type NoiseInput struct {
	// Name is the ONNX value the node produces.
	Name string
	Node *gorgonia.Node
	Kind NoiseKind
	// Mean and Scale (normal) or Low and High (uniform) are the node's attributes.
	Mean, Scale float64
	Low, High   float64
	// Seed is the node's seed attribute, if any (Run uses the caller's generator instead).
	Seed    float64
	HasSeed bool
}

func noiseBuilder(kind NoiseKind) opBuilder {
	return func(b *builder, n *onnximport.Node) error {
		if n.Has("dtype") {
			switch onnximport.DType(n.Int("dtype", 0)) {
			case onnximport.Float32, onnximport.Float64, onnximport.Float16:
			default:
				return fmt.Errorf("%v: dtype %v is not supported (a float type is)", n, onnximport.DType(n.Int("dtype", 0)))
			}
		}
		shape, err := b.shapeOf(n, 0)
		if err != nil {
			return err
		}
		name := n.Outputs[0]
		var node *gorgonia.Node
		if len(shape) == 0 {
			node = gorgonia.NewScalar(b.g, b.dt, gorgonia.WithName("noise:"+name))
		} else {
			node = gorgonia.NewTensor(b.g, b.dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName("noise:"+name))
		}
		in := NoiseInput{Name: name, Node: node, Kind: kind, Mean: float64(n.Float("mean", 0)), Scale: float64(n.Float("scale", 1)),
			Low: float64(n.Float("low", 0)), High: float64(n.Float("high", 1)), Seed: float64(n.Float("seed", 0)), HasSeed: n.Has("seed")}
		b.net.Noise = append(b.net.Noise, in)
		b.Set(n, 0, node)
		return nil
	}
}

// shapeOf returns the shape of the node's i-th input without adding it to the graph.
func (b *builder) shapeOf(n *onnximport.Node, i int) (tensor.Shape, error) {
	name := n.Input(i)
	if v, ok := b.vals[name]; ok {
		return v.Shape().Clone(), nil
	}
	if t, ok := b.consts[name]; ok {
		return tensor.Shape(append([]int{}, t.Dims...)), nil
	}
	if t, ok := b.model.Graph.Initializers[name]; ok {
		return tensor.Shape(append([]int{}, t.Dims...)), nil
	}
	return nil, fmt.Errorf("%v: input %q has no value", n, name)
}
