package kernels

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestChainFD differentiates a small network built from every op of the package (and Gorgonia's
// own Rectify and Add) against central differences, so that gradients compose: Conv → BatchNorm
// (batch statistics) → ReLU → MaxPool, with a skip branch through AveragePool and
// nearest-neighbour Resize, → LayerNormalization → GlobalAveragePool.
func TestChainFD(t *testing.T) {
	arr := func(seed uint64, shape ...int) fxArray { return randArray(seed, shape...) }
	c := &fxCase{
		Name: "chain",
		Inputs: map[string]fxArray{
			"x": arr(1, 2, 2, 8, 8), "w": arr(2, 3, 2, 3, 3), "b": arr(3, 3),
			"scale": arr(4, 3), "B": arr(5, 3), "mean": arr(6, 3), "var": {Shape: []int{3}, Data: []float64{1, 2, 0.5}},
			"lscale": arr(7, 4, 4), "lB": arr(8, 4, 4),
		},
		Dy: arr(9, 2, 3, 1, 1),
	}
	var bn *BatchNorm
	build := func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
		var err error
		bn, err = NewBatchNorm("bn", denseOf(tensor.Float64, c.Inputs["mean"]), denseOf(tensor.Float64, c.Inputs["var"]), 0.9, 1e-5, TrainFrozen)
		if err != nil {
			return nil, err
		}
		y, err := Conv(in["x"], in["w"], in["b"], Window{Pads: []int{1, 1, 1, 1}}, 1)
		if err != nil {
			return nil, err
		}
		if y, err = BatchNormalization(y, in["scale"], in["B"], bn); err != nil {
			return nil, err
		}
		if y, err = gorgonia.Rectify(y); err != nil {
			return nil, err
		}
		skip, err := AveragePool(y, Window{Kernel: []int{3, 3}, Strides: []int{4, 4}, Pads: []int{1, 1, 0, 0}}, false)
		if err != nil {
			return nil, err
		}
		if skip, err = ResizeNearest(skip, Resize{Scales: []float64{1, 1, 2, 2}}); err != nil {
			return nil, err
		}
		if y, err = MaxPool(y, Window{Kernel: []int{2, 2}, Strides: []int{2, 2}}); err != nil {
			return nil, err
		}
		if y, err = gorgonia.Add(y, skip); err != nil {
			return nil, err
		}
		if y, err = LayerNormalization(y, in["lscale"], in["lB"], 2, 1e-5); err != nil {
			return nil, err
		}
		return GlobalAveragePool(y)
	}
	h := newHarness(t, c, tensor.Float64, []string{"B", "b", "lB", "lscale", "scale", "w", "x"}, build)
	h.checkFD(t, 1e-6)
	m, v := bn.Stats()
	checkClose(t, "running mean (TrainFrozen)", m, c.Inputs["mean"], 1e-300, 0)
	checkClose(t, "running var (TrainFrozen)", v, c.Inputs["var"], 1e-300, 0)
}
