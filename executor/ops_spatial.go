package executor

import (
	"fmt"
	"strconv"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The spatial and normalization ops, built from the fused kernels of internal/kernels.
func init() {
	register("Conv", buildConv)
	register("MaxPool", buildPool)
	register("AveragePool", buildPool)
	register("GlobalAveragePool", buildGlobalAveragePool)
	register("BatchNormalization", buildBatchNorm)
	register("LayerNormalization", buildLayerNorm)
	register("Resize", buildResize)
}

// spatialInts returns an INTS attribute as ints (nil when absent).
func spatialInts(n *onnximport.Node, name string) []int {
	v := n.Ints(name, nil)
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// spatialFloat returns a FLOAT attribute as the float64 its shortest decimal spelling denotes, so
// that momentum 0.9 stored as float32 is exactly 0.9 (PyTorch computes with the double).
func spatialFloat(n *onnximport.Node, name string, def float32) float64 {
	f := n.Float(name, def)
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f)
	}
	return v
}

// spatialWindow reads the sliding-window attributes shared by Conv and the pooling ops.
func spatialWindow(n *onnximport.Node) kernels.Window {
	return kernels.Window{
		Kernel:    spatialInts(n, "kernel_shape"),
		Strides:   spatialInts(n, "strides"),
		Dilations: spatialInts(n, "dilations"),
		Pads:      spatialInts(n, "pads"),
		AutoPad:   n.Str("auto_pad", "NOTSET"),
	}
}

func buildConv(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	w, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	var bias *gorgonia.Node
	if n.Input(2) != "" {
		if bias, err = b.Input(n, 2); err != nil {
			return err
		}
	}
	y, err := kernels.Conv(x, w, bias, spatialWindow(n), int(n.Int("group", 1)))
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

func buildPool(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	win := spatialWindow(n)
	win.CeilMode = n.Int("ceil_mode", 0) != 0
	var y *gorgonia.Node
	if n.OpType == "MaxPool" {
		if n.Int("storage_order", 0) != 0 {
			return fmt.Errorf("%v: storage_order=1 is not supported", n)
		}
		y, err = kernels.MaxPool(x, win)
	} else {
		y, err = kernels.AveragePool(x, win, n.Int("count_include_pad", 0) != 0)
	}
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

func buildGlobalAveragePool(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	y, err := kernels.GlobalAveragePool(x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// buildBatchNorm builds a BatchNormalization whose running statistics are the shared tensors of
// its mean and variance initializers (Net.Values, updated in place by training-mode passes). The
// mode follows BuildOptions.Training and Net.SetTraining; Net.BatchNorms reaches each node's state.
func buildBatchNorm(b *builder, n *onnximport.Node) error {
	// training_mode=1 (a module exported in train()) is the same layer: the mode is the net's
	// (BuildOptions.Training, Net.SetTraining). Outputs 1 and 2 (running statistics) are not
	// produced; a node reading them fails to build, naming the value.
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	scale, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	bias, err := b.Input(n, 2)
	if err != nil {
		return err
	}
	mean, err := b.State(n, 3)
	if err != nil {
		return err
	}
	variance, err := b.State(n, 4)
	if err != nil {
		return err
	}
	mode := kernels.Eval
	if b.opt.Training {
		mode = kernels.Train
	}
	bn, err := kernels.NewBatchNorm(n.Name, mean, variance, spatialFloat(n, "momentum", 0.9), spatialFloat(n, "epsilon", 1e-5), mode)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	y, err := kernels.BatchNormalization(x, scale, bias, bn)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.OnTraining(func(training bool) {
		if training {
			bn.SetMode(kernels.Train)
		} else {
			bn.SetMode(kernels.Eval)
		}
	})
	b.Set(n, 0, y)
	return nil
}

// buildLayerNorm builds an opset-17 LayerNormalization. A build-time constant scale of ones or
// bias of zeros is dropped (no affine work, nothing to differentiate); a missing scale (as some
// exporters write for elementwise_affine=False) means ones. Statistics are accumulated in float64
// whatever stash_type says.
func buildLayerNorm(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	var scale, bias *gorgonia.Node
	if n.Input(1) != "" && !b.constAllEqual(n, 1, 1) {
		if scale, err = b.Input(n, 1); err != nil {
			return err
		}
	}
	if n.Input(2) != "" && !b.constAllEqual(n, 2, 0) {
		if bias, err = b.Input(n, 2); err != nil {
			return err
		}
	}
	y, err := kernels.LayerNormalization(x, scale, bias, int(n.Int("axis", -1)), spatialFloat(n, "epsilon", 1e-5))
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// constAllEqual reports whether the node's i-th input is a build-time constant (not a learnable
// initializer) whose elements all equal v.
func (b *builder) constAllEqual(n *onnximport.Node, i int, v float32) bool {
	if b.isParam(n.Input(i)) {
		return false
	}
	t, ok := b.Const(n, i)
	if !ok {
		return false
	}
	for _, x := range t.Floats() {
		if x != v {
			return false
		}
	}
	return true
}

// buildResize builds a nearest-neighbour Resize whose scales or sizes are build-time constants
// (the roi input is ignored: it only matters for tf_crop_and_resize).
func buildResize(b *builder, n *onnximport.Node) error {
	if mode := n.Str("mode", "nearest"); mode != "nearest" {
		return fmt.Errorf("%v: mode %q is not supported (nearest is)", n, mode)
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	r := kernels.Resize{
		CoordinateTransformationMode: n.Str("coordinate_transformation_mode", "half_pixel"),
		NearestMode:                  n.Str("nearest_mode", "round_prefer_floor"),
	}
	if t, ok := b.Const(n, 3); ok && n.Input(3) != "" && t.Size() > 0 {
		for _, v := range t.Ints() {
			r.Sizes = append(r.Sizes, int(v))
		}
	} else if t, ok := b.Const(n, 2); ok && n.Input(2) != "" && t.Size() > 0 {
		for _, v := range t.Floats() {
			r.Scales = append(r.Scales, float64(v))
		}
	} else {
		return fmt.Errorf("%v: scales or sizes must be a constant (an initializer or a Constant node)", n)
	}
	y, err := kernels.ResizeNearest(x, r)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}
