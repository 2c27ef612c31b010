package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// reinitStream is the PCG stream of the per-seed initial values.
const reinitStream = 0x696e6974

// reinit replaces m's trainable parameters by fresh values drawn from seed, as PyTorch initialises
// a new network (torch.nn defaults): Conv, Gemm and MatMul weights and biases
// U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5), normalization scales 1 and biases 0,
// BatchNorm running mean 0 and variance 1. Parameters are visited in node order, each once, so a
// seed always gives the same network. A float initializer that is none of these is refused.
func reinit(m *onnximport.Model, seed int64) error {
	rng := rand.New(rand.NewPCG(uint64(seed), reinitStream))
	done := map[string]bool{}
	set := func(n *onnximport.Node, i int, value func() float32) error {
		name := n.Input(i)
		t, ok := m.Graph.Initializers[name]
		if name == "" || done[name] || !ok {
			return nil
		}
		if t.DType != onnximport.Float32 {
			return fmt.Errorf("reinit: %v: %q holds %v values, want float32", n, name, t.DType)
		}
		v := make([]float32, t.Size())
		for j := range v {
			v[j] = value()
		}
		done[name] = true
		return m.SetInitializer(onnximport.NewFloatTensor(name, t.Dims, v))
	}
	constant := func(c float32) func() float32 { return func() float32 { return c } }
	for _, n := range m.Graph.Nodes {
		var fanIn int
		switch n.OpType {
		case "Conv", "Gemm", "MatMul":
			w, ok := m.Graph.Initializers[n.Input(1)]
			if !ok {
				continue
			}
			switch {
			case n.OpType == "Conv" && len(w.Dims) >= 2:
				fanIn = w.Size() / w.Dims[0]
			case n.OpType == "Gemm" && n.Int("transB", 0) != 0 && len(w.Dims) == 2:
				fanIn = w.Dims[1]
			case len(w.Dims) == 2:
				fanIn = w.Dims[0]
			default:
				return fmt.Errorf("reinit: %v: weight %q of shape %v", n, n.Input(1), w.Dims)
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			uniform := func() float32 { return float32(bound * (2*rng.Float64() - 1)) }
			if err := set(n, 1, uniform); err != nil {
				return err
			}
			if n.OpType != "MatMul" {
				if err := set(n, 2, uniform); err != nil {
					return err
				}
			}
		case "BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization":
			for i, c := range []float32{1, 0, 0, 1} {
				if i < 2 || n.OpType == "BatchNormalization" {
					if err := set(n, i+1, constant(c)); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, name := range m.Graph.InitializerNames {
		if t := m.Graph.Initializers[name]; t.DType.IsFloat() && !done[name] {
			return fmt.Errorf("reinit: %s: float initializer %q is not a Conv/Gemm/MatMul or normalization parameter; "+
				"the bench does not know how to initialise it", m.Path, name)
		}
	}
	return nil
}
