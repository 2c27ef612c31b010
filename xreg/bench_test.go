package xreg

import (
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/inject"
	_ "github.com/xreg-onnx/xreg-onnx/internal/blas" // OpenBLAS unless -tags purego
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// benchTrainer sets up the trainer of Train for a fixture model with noise injected after every
// normalization node (the protocol's defaults: batch 64, K = 4, r = 30).
func benchTrainer(b *testing.B, file string, shape []int) (*trainer, *dataset.Set, *dataset.Set) {
	m, err := onnximport.Load("../testdata/models/" + file)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		b.Fatal(err)
	}
	cfg := TrainConfig{NoEpochEval: true}
	if err := cfg.Normalize(); err != nil {
		b.Fatal(err)
	}
	t := &trainer{cfg: cfg, model: m, epochStart: -1}
	train, reg := dataset.Random(960, shape, 3), dataset.Random(256, shape, 4)
	if err := t.setup(train, reg); err != nil {
		b.Fatal(err)
	}
	return t, train, reg
}

// benchThetaStep times one θ step of Train (noisy forward, backward, Adam update) at batch 64.
func benchThetaStep(b *testing.B, file string, shape []int) {
	t, train, _ := benchTrainer(b, file, shape)
	const batch = 64
	x := tensor.New(tensor.WithShape(t.trainNet.Inputs[t.inputName].Shape()...), tensor.WithBacking(append([]float32(nil), train.X[:batch*train.Dim()]...)))
	feeds := map[string]*tensor.Dense{t.inputName: x}
	if err := t.trainNet.SetMCLabels(train.Y[:batch]); err != nil {
		b.Fatal(err)
	}
	step := func(i int) {
		if err := t.trainNet.Forward(feeds, executor.Noise{Rand: t.rng(streamTrainNoise, i)}); err != nil {
			b.Fatal(err)
		}
		if err := t.updateTheta(); err != nil {
			b.Fatal(err)
		}
	}
	step(-1) // warm-up: output and scratch buffers
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkCNNTrainStep times one θ step of cnn-bn (noise after both BatchNorms) at batch 64.
func BenchmarkCNNTrainStep(b *testing.B) { benchThetaStep(b, "cnn-bn.onnx", []int{1, 28, 28}) }

// BenchmarkMLPTrainStep times one θ step of mlp-ln (noise after every LayerNorm) at batch 64.
func BenchmarkMLPTrainStep(b *testing.B) { benchThetaStep(b, "mlp-ln-op13.onnx", []int{784}) }

// BenchmarkCNNXregEpoch times one epoch of Train on cnn-bn over 960 random images (15 θ steps,
// one φ step), and reports training images/s.
func BenchmarkCNNXregEpoch(b *testing.B) {
	t, train, reg := benchTrainer(b, "cnn-bn.onnx", []int{1, 28, 28})
	// One φ update per epoch: twice the rate of the protocol's r = 30. The first epoch warms the
	// output and scratch buffers up.
	t.cfg.RegEvery = 15
	if _, err := t.runEpoch(train, reg, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := t.runEpoch(train, reg, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*train.Len())/b.Elapsed().Seconds(), "images/s")
}
