package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The ops of inject's input augmentation: Sin and Cos build the rotation, GridSample resamples the
// image along the per-sample affine grid. Gradients flow to the image and to the grid, and so to
// the augmentation magnitudes.
func init() {
	register("Sin", buildTrig(gorgonia.Sin))
	register("Cos", buildTrig(gorgonia.Cos))
	register("GridSample", buildGridSample)
}

func buildTrig(f func(*gorgonia.Node) (*gorgonia.Node, error)) opBuilder {
	return func(b *builder, n *onnximport.Node) error {
		x, err := b.Input(n, 0)
		if err != nil {
			return err
		}
		y, err := f(x)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.Set(n, 0, y)
		return nil
	}
}

func buildGridSample(b *builder, n *onnximport.Node) error {
	bilinear := "bilinear"
	if b.model.Opset >= 20 {
		bilinear = "linear"
	}
	if mode := n.Str("mode", bilinear); mode != bilinear {
		return fmt.Errorf("%v: mode %q is not supported (%s is)", n, mode, bilinear)
	}
	if pad := n.Str("padding_mode", "zeros"); pad != "zeros" {
		return fmt.Errorf("%v: padding_mode %q is not supported (zeros is)", n, pad)
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	grid, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	y, err := kernels.GridSample(x, grid, n.Int("align_corners", 0) != 0)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}
