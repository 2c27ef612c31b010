package xreg

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/internal/probs"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// PredictOptions configures Predict.
type PredictOptions struct {
	// Batch is the evaluation batch size [256].
	Batch int
	// MC is the number of noisy passes averaged (as probabilities); 0 gives the deterministic
	// prediction (noise and augmentation off).
	MC int
	// Seed seeds the noise of Monte-Carlo prediction.
	Seed int64
}

// Predict returns the softmax probabilities of the model's first output for every example of s,
// with BatchNormalization in evaluation mode, using values (shared initializer tensors, e.g. a
// TrainResult's) where given and the model's initializers elsewhere.
func Predict(m *onnximport.Model, s *dataset.Set, values map[string]*tensor.Dense, opt PredictOptions) ([][]float64, error) {
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.MC < 0 {
		return nil, fmt.Errorf("xreg: predict: mc = %d", opt.MC)
	}
	net, err := executor.Build(m, executor.BuildOptions{Batch: min(opt.Batch, s.Len()), Values: values})
	if err != nil {
		return nil, err
	}
	return predictNet(net, s, opt)
}

// predictNet is Predict on an already built net (evaluation mode); its batch size is the net's.
func predictNet(net *executor.Net, s *dataset.Set, opt PredictOptions) ([][]float64, error) {
	in := net.InputNames[0]
	shape := net.Inputs[in].Shape()
	batch := shape[0]
	d := s.Dim()
	if shape.TotalSize() != batch*d {
		return nil, fmt.Errorf("xreg: predict: examples of %s have %d values, model input %q has shape %v", s.Source, d, in, shape)
	}
	x := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, batch*d)))
	res := make([][]float64, s.Len())
	passes := max(opt.MC, 1)
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x9e3779b9))
	for from := 0; from < s.Len(); from += batch {
		to := min(from+batch, s.Len())
		xs := x.Float32s()
		copy(xs, s.X[from*d:to*d])
		clear(xs[(to-from)*d:]) // pad the last batch; BatchNorm in eval mode is per example
		for p := 0; p < passes; p++ {
			noise := executor.Noise{}
			if opt.MC > 0 {
				noise.Rand = rng
			}
			if err := net.Forward(map[string]*tensor.Dense{in: x}, noise); err != nil {
				return nil, err
			}
			out, ok := net.Outputs[0].Value().(*tensor.Dense)
			if !ok {
				return nil, fmt.Errorf("xreg: predict: output %q is not a tensor", net.OutputNames[0])
			}
			z := out.Float32s()
			c := len(z) / batch
			for i := from; i < to; i++ {
				if res[i] == nil {
					res[i] = make([]float64, c)
				}
				probs.AddSoftmax(res[i], z[(i-from)*c:(i-from+1)*c], 1/float64(passes))
			}
		}
	}
	return res, nil
}

// fnvHasher builds a short fingerprint from strings.
func newHasher() *fnvHasher { return &fnvHasher{h: fnv.New64a()} }

type fnvHasher struct {
	h interface {
		Write([]byte) (int, error)
		Sum64() uint64
	}
}

func (f *fnvHasher) add(parts ...string) {
	for _, p := range parts {
		f.h.Write([]byte(p))
		f.h.Write([]byte{0})
	}
}

func (f *fnvHasher) sum() string { return fmt.Sprintf("%016x", f.h.Sum64()) }
