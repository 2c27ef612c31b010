package executor

import (
	"fmt"

	"gorgonia.org/tensor"
)

// pendingNoise is what a pooled net fills one noise input with when the schedule lends it a
// buffer (just before the input's first reader): what bindNoise prepared, drawn from the caller's
// generator in the same order and to the same values as an eager fill.
type pendingNoise struct {
	in     NoiseInput
	values *tensor.Dense // the caller's fixed noise (Noise.Values), copied at fill time
	zero   bool          // no generator: zero noise
	seeds  [][2]uint64   // a large Gaussian input: its chunks' seeds, drawn now, values later
	staged any           // anything else ([]float32 or []float64), drawn now
}

// prepare records how the input is filled in this pass, drawing from noise.Rand now.
func (p *pendingNoise) prepare(in NoiseInput, noise Noise) error {
	staged := p.staged
	*p = pendingNoise{in: in}
	shape := in.Node.Shape()
	if v, ok := noise.Values[in.Name]; ok {
		if got := v.Shape(); !got.Eq(shape) {
			return fmt.Errorf("shape %v, the net was built for %v", got, shape)
		}
		if v.IsMaterializable() {
			v = v.Materialize().(*tensor.Dense)
		}
		p.values = v
		return nil
	}
	n := shape.TotalSize()
	switch {
	case noise.Rand == nil:
		p.zero = true
	case in.Kind == NoiseNormal && n > noiseChunk:
		p.seeds = normalSeeds(n, noise.Rand)
	case in.Node.Dtype() == tensor.Float64:
		x, _ := staged.([]float64)
		x = append(x[:0], make([]float64, n)...)
		drawNoise(x, in, noise.Rand)
		p.staged = x
	default:
		x, _ := staged.([]float32)
		x = append(x[:0], make([]float32, n)...)
		drawNoise(x, in, noise.Rand)
		p.staged = x
	}
	return nil
}

// fillInto writes the prepared noise into a lent buffer of the input's shape.
func (p *pendingNoise) fillInto(d *tensor.Dense) error {
	if p.values != nil {
		return copyTensor(d, p.values)
	}
	switch x := d.Data().(type) {
	case []float32:
		fillPending(x, p)
	case []float64:
		fillPending(x, p)
	default:
		return fmt.Errorf("executor: noise %q: buffer of type %T", p.in.Name, x)
	}
	return nil
}

func fillPending[T float](x []T, p *pendingNoise) {
	switch {
	case p.zero:
		clear(x)
	case p.seeds != nil:
		fillNormal(x, p.seeds, p.in)
	default:
		copy(x, p.staged.([]T))
	}
}
