package xreg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/executor"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// injectedFixture loads a fixture model and injects noise after its normalization nodes.
func injectedFixture(t testing.TB, name string) *onnximport.Model {
	t.Helper()
	m, err := onnximport.Load(filepath.Join("..", "testdata", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	return m
}

// smallData loads n examples of the bundled Fashion-MNIST subset, reshaped for the model.
func smallData(t testing.TB, split string, n int, shape []int) *dataset.Set {
	t.Helper()
	s, err := dataset.Load(filepath.Join("..", "testdata", "fmnist-small", split+"-images-idx3-ubyte.gz"),
		dataset.Options{Limit: n, Shape: shape, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func copyValues(v map[string]*tensor.Dense) map[string][]float32 {
	out := map[string][]float32{}
	for k, d := range v {
		out[k] = append([]float32(nil), d.Float32s()...)
	}
	return out
}

// TestTrainLearnsAndMovesSigma: cross-regularization on the MLP lowers the training loss and moves
// every σ away from its initial value (the regularization gradient is not zero).
func TestTrainLearnsAndMovesSigma(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	train, reg := smallData(t, "train", 256, []int{784}), smallData(t, "reg", 128, []int{784})
	var log bytes.Buffer
	// A hook sees the loop: one start, every φ update, each epoch after the evaluation filled it in,
	// and the end.
	var starts, updates, ends int
	var epochNLL []float64
	hook := Hooks{Name: "test",
		OnStart:     func(p Progress) error { starts++; return nil },
		OnRegUpdate: func(u RegUpdate) error { updates++; return nil },
		OnEpoch:     func(st *EpochStats) error { epochNLL = append(epochNLL, st.RegNLL); return nil },
		OnEnd:       func(*TrainResult) error { ends++; return nil },
	}
	res, err := Train(m, train, reg, TrainConfig{Epochs: 4, BatchSize: 32, RegEvery: 2, MC: 3, RegBatch: 32, RegLR: 0.05, Log: &log,
		Hooks: []Hooks{hook}, Version: "test-version"})
	if err != nil {
		t.Fatal(err)
	}
	if starts != 1 || ends != 1 || updates != res.Steps/2 || len(epochNLL) != 4 {
		t.Errorf("hooks saw %d starts, %d φ updates, %d epochs, %d ends; want 1, %d, 4, 1", starts, updates, len(epochNLL), ends, res.Steps/2)
	}
	for i, nll := range epochNLL {
		if nll != res.History[i].RegNLL || nll == 0 {
			t.Errorf("epoch %d: the hook saw reg NLL %v, history has %v", i+1, nll, res.History[i].RegNLL)
		}
	}
	// The provenance the library records (WriteResult) names the run.
	for k, want := range map[string]string{"xreg.train.version": "test-version", "xreg.train.steps": fmt.Sprint(res.Steps),
		"xreg.train.mc": "3", "xreg.train.reg_every": "2", "xreg.train.train_size": "256"} {
		if got := res.Provenance[k]; got != want {
			t.Errorf("provenance %s = %q, want %q", k, got, want)
		}
	}
	written := m.Clone()
	if err := WriteResult(written, res); err != nil {
		t.Fatal(err)
	}
	for k, v := range res.Provenance {
		if got, ok := written.Metadata(k); !ok || got != v {
			t.Errorf("WriteResult: metadata %s = %q, want %q", k, got, v)
		}
	}
	h := res.History
	if len(h) != 4 || h[3].TrainLoss >= h[0].TrainLoss {
		t.Fatalf("training loss did not fall: %+v", h)
	}
	regs, _ := inject.Regs(m)
	for _, r := range regs {
		s := h[3].Sigma[inject.SigmaKey(r.Name)]
		if math.Abs(s-inject.DefaultSigma0) < 1e-3 {
			t.Errorf("σ of %s stayed at %v", r.Name, s)
		}
	}
	// The epoch's regularization NLL is that of a fresh deterministic prediction with the final
	// values, at the evaluation's batch size (EvalBatch 0: BatchSize).
	probs, err := Predict(m, reg, res.Values, PredictOptions{Batch: 32})
	if err != nil {
		t.Fatal(err)
	}
	if nll, _ := nllAcc(probs, reg.Y); math.Abs(nll-h[3].RegNLL) > 1e-9 {
		t.Errorf("epoch reg NLL %v, fresh prediction %v", h[3].RegNLL, nll)
	}
	if n := strings.Count(log.String(), `"kind":"reg"`); n != res.Steps/2 {
		t.Errorf("%d reg log lines for %d steps at r=2", n, res.Steps)
	}
}

// TestRegGradientNeedsMonteCarlo: with the noise switched off (a deterministic pass) the gradient
// of the regularization loss with respect to log σ is exactly zero, which is why the trainer never
// uses one for φ; with noisy passes it is not.
func TestRegGradientNeedsMonteCarlo(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	regs, _ := inject.Regs(m)
	reg := smallData(t, "reg", 16, []int{784})
	for _, noisy := range []bool{false, true} {
		net, err := executor.Build(m, executor.BuildOptions{Batch: 2 * 16})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := net.MCNLL("logits", 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := net.Grad(loss, regs[0].Name); err != nil {
			t.Fatal(err)
		}
		net.SetMCLabels(reg.Y)
		x := append(append([]float32(nil), reg.X...), reg.X...)
		noise := executor.Noise{}
		if noisy {
			noise.Rand = (&trainer{}).rng(streamRegNoise, 1)
		}
		if err := net.Forward(map[string]*tensor.Dense{"input": tensor.New(tensor.WithShape(32, 784), tensor.WithBacking(x))}, noise); err != nil {
			t.Fatal(err)
		}
		g, _ := net.GradValue(regs[0].Name)
		if zero := g.Float32s()[0] == 0; zero == noisy {
			t.Errorf("noisy=%v: gradient %v", noisy, g.Float32s())
		}
	}
	if _, err := Train(m, reg, reg, TrainConfig{MC: 1}); err == nil || !strings.Contains(err.Error(), "at least 2 Monte-Carlo passes") {
		t.Errorf("MC=1 accepted: %v", err)
	}
}

// TestRegGradientFiniteDifference: the gradient of the K-pass regularization loss with respect to
// every log σ, with the noise draws held fixed, matches central finite differences (float64).
func TestRegGradientFiniteDifference(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	regs, _ := inject.Regs(m)
	reg := smallData(t, "reg", 4, []int{784})
	const k = 3
	net, err := executor.Build(m, executor.BuildOptions{Batch: k * 4, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	loss, _ := net.MCNLL("logits", k, 0)
	names := []string{}
	for _, r := range regs {
		names = append(names, r.Name)
	}
	if err := net.Grad(loss, names...); err != nil {
		t.Fatal(err)
	}
	net.SetMCLabels(reg.Y)
	x := make([]float64, 0, k*len(reg.X))
	for i := 0; i < k; i++ {
		for _, v := range reg.X {
			x = append(x, float64(v))
		}
	}
	feeds := map[string]*tensor.Dense{"input": tensor.New(tensor.WithShape(k*4, 784), tensor.WithBacking(x))}
	// Fix the noise: draw once, then feed the same values every pass.
	fixed := map[string]*tensor.Dense{}
	rng := (&trainer{}).rng(streamRegNoise, 7)
	for _, in := range net.Noise {
		s := in.Node.Shape()
		d := make([]float64, s.TotalSize())
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		fixed[in.Name] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	run := func() float64 {
		if err := net.Forward(feeds, executor.Noise{Values: fixed}); err != nil {
			t.Fatal(err)
		}
		l, _ := net.LossValue()
		return l
	}
	run()
	grads := map[string]float64{}
	for _, name := range names {
		g, _ := net.GradValue(name)
		grads[name] = g.Float64s()[0]
	}
	for _, name := range names {
		v := net.Values[name].Float64s()
		orig := v[0]
		const h = 1e-5
		v[0] = orig + h
		up := run()
		v[0] = orig - h
		down := run()
		v[0] = orig
		fd := (up - down) / (2 * h)
		if math.Abs(grads[name]-fd) > 1e-6+1e-4*math.Abs(fd) {
			t.Errorf("d loss / d %s = %v, finite difference %v", name, grads[name], fd)
		}
	}
}

// TestResumeAfterCrash: a run that dies mid-epoch and is resumed from its checkpoint ends with
// exactly the values of an uninterrupted run with the same seed.
func TestResumeAfterCrash(t *testing.T) {
	train, reg := smallData(t, "train", 160, []int{784}), smallData(t, "reg", 64, []int{784})
	cfg := TrainConfig{Epochs: 3, BatchSize: 32, RegEvery: 2, MC: 2, RegBatch: 16, Seed: 5}

	full, err := Train(injectedFixture(t, "mlp-ln-op13.onnx"), train, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := copyValues(full.Values)

	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	crashed := cfg
	crashed.Checkpoint, crashed.CheckpointEvery = ckpt, 3
	crash := errors.New("killed")
	var steps []int
	crashed.Hooks = []Hooks{{Name: "crash", OnStep: func(p Progress) error {
		steps = append(steps, p.Step)
		if p.Step == 8 { // mid-epoch 2, after the checkpoint at step 6
			return crash
		}
		return nil
	}}}
	if _, err := Train(injectedFixture(t, "mlp-ln-op13.onnx"), train, reg, crashed); !errors.Is(err, crash) {
		t.Fatalf("run did not stop with the hook's error: %v", err)
	}
	if !slices.Equal(steps, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("OnStep saw steps %v", steps)
	}
	ck, err := LoadCheckpoint(ckpt)
	if err != nil || ck.Step != 6 {
		t.Fatalf("checkpoint after crash: %+v, %v", ck, err)
	}
	resumed := cfg
	resumed.Checkpoint, resumed.CheckpointEvery, resumed.Resume = ckpt, 3, true
	res, err := Train(injectedFixture(t, "mlp-ln-op13.onnx"), train, reg, resumed)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != full.Steps {
		t.Fatalf("resumed run ended at step %d, uninterrupted at %d", res.Steps, full.Steps)
	}
	for name, w := range want {
		got := res.Values[name].Float32s()
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("%s[%d] = %v after resume, %v uninterrupted", name, i, got[i], w[i])
			}
		}
	}
	// Resuming with another seed is refused.
	other := resumed
	other.Seed = 6
	if _, err := Train(injectedFixture(t, "mlp-ln-op13.onnx"), train, reg, other); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("resume with another seed: %v", err)
	}
}

// TestFreezeHead: with --freeze head only the classifier's weight and bias change.
func TestFreezeHead(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	train, reg := smallData(t, "train", 64, []int{784}), smallData(t, "reg", 32, []int{784})
	before := map[string][]float32{}
	for name, init := range m.Graph.Initializers {
		before[name] = append([]float32(nil), init.Floats()...)
	}
	head, err := headNode(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(m, train, reg, TrainConfig{Epochs: 1, BatchSize: 32, Freeze: "head", Regs: RegsFixed})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range res.Values {
		changed := false
		for i, x := range v.Float32s() {
			changed = changed || x != before[name][i]
		}
		isHead := name == head.Input(1) || name == head.Input(2)
		if changed != isHead {
			t.Errorf("%s changed=%v, head=%v", name, changed, isHead)
		}
	}
}

func TestTrainBadInput(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	good := smallData(t, "train", 64, []int{784})
	img := smallData(t, "train", 64, nil) // 1×28×28: same size, accepted
	for _, c := range []struct {
		name  string
		cfg   TrainConfig
		want  string
		field string // the *ConfigError's field, "" for another error
	}{
		{"bad mode", TrainConfig{Regs: "sometimes"}, "is not one of learn, fixed, off", "Regs"},
		{"bad optimizer", TrainConfig{RegOptimizer: "lion"}, "is not one of adam, sgd", "RegOptimizer"},
		{"bad batch", TrainConfig{RegBatch: -1}, "must be positive", "RegBatch"},
		{"bad freeze", TrainConfig{Freeze: "last:x"}, "last:N", "Freeze"},
		{"freeze nothing matches", TrainConfig{Freeze: "^nope$"}, "matches no param", "Freeze"},
		{"batch too big", TrainConfig{BatchSize: 128}, "do not fill one batch", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Train(m, good, good, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "xreg: train: ") {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			var ce *ConfigError
			if got := errors.As(err, &ce); got != (c.field != "") || (got && ce.Field != c.field) {
				t.Errorf("err = %v (%T), want a *ConfigError for field %q", err, err, c.field)
			}
		})
	}
	// A model without regs: a *ConfigError for Regs wrapping inject's error.
	plain, err := onnximport.Load(testutil.ModelPath("mlp-ln-op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Train(plain, good, good, TrainConfig{Epochs: 1})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "Regs" || !errors.Is(err, inject.ErrNotInjected) {
		t.Errorf("plain model: %v, want a Regs *ConfigError wrapping inject.ErrNotInjected", err)
	}
	if _, err := Train(m, img, good, TrainConfig{Epochs: 1}); err != nil {
		t.Errorf("1×28×28 examples for a 784 input: %v", err)
	}
}

// TestRegPassesUseRunningStatistics: the regularization passes run BatchNorm in evaluation mode
// (running statistics, never updated), the training passes in training mode; a φ update changes
// φ and nothing else.
func TestRegPassesUseRunningStatistics(t *testing.T) {
	m := injectedFixture(t, "cnn-bn.onnx")
	train, reg := smallData(t, "train", 64, nil), smallData(t, "reg", 32, nil)
	tr := &trainer{cfg: TrainConfig{BatchSize: 32, RegBatch: 16, MC: 3}, model: m, epochStart: -1}
	if err := tr.cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if err := tr.setup(train, reg); err != nil {
		t.Fatal(err)
	}
	for _, bn := range tr.trainNet.BatchNorms() {
		if bn.Mode() != kernels.Train {
			t.Errorf("training net BatchNorm %s in mode %v", bn.Name, bn.Mode())
		}
	}
	if len(tr.phiRun.net.BatchNorms()) != 2 {
		t.Fatalf("%d BatchNorms in the regularization net, want 2", len(tr.phiRun.net.BatchNorms()))
	}
	for _, bn := range tr.phiRun.net.BatchNorms() {
		if bn.Mode() != kernels.Eval {
			t.Errorf("regularization net BatchNorm %s in mode %v", bn.Name, bn.Mode())
		}
	}
	before := copyValues(tr.values)
	if err := tr.updatePhi(reg); err != nil {
		t.Fatal(err)
	}
	// The "batch" variant uses the regularization batch's statistics, still without updating.
	trb := &trainer{cfg: TrainConfig{BatchSize: 32, RegBatch: 16, MC: 3, RegBatchNorm: "batch"}, model: m, epochStart: -1}
	if err := trb.cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if err := trb.setup(train, reg); err != nil {
		t.Fatal(err)
	}
	for _, bn := range append(trb.phiRun.net.BatchNorms(), trb.phiRun.fwd.BatchNorms()...) {
		if bn.Mode() != kernels.TrainFrozen {
			t.Errorf("--reg-batchnorm batch: BatchNorm %s in mode %v", bn.Name, bn.Mode())
		}
	}
	stats := copyValues(trb.values)
	if err := trb.updatePhi(reg); err != nil {
		t.Fatal(err)
	}
	for name := range trb.trainNet.State {
		for i, x := range trb.values[name].Float32s() {
			if x != stats[name][i] {
				t.Fatalf("--reg-batchnorm batch changed running statistic %s", name)
			}
		}
	}
	isPhi := map[string]bool{}
	for _, p := range tr.phi {
		isPhi[p] = true
	}
	for name, v := range tr.values {
		changed := false
		for i, x := range v.Float32s() {
			changed = changed || x != before[name][i]
		}
		if changed != isPhi[name] {
			t.Errorf("%s changed=%v after a φ update (φ: %v)", name, changed, isPhi[name])
		}
	}
}

// TestResetHead: --reset-head replaces the classifier by a fresh one of the requested width, and
// the model then trains on labels of that range.
func TestResetHead(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	if err := ResetHead(m, 3, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.Graph.Outputs[0].Shape; got[1] != 3 {
		t.Fatalf("output shape %v after reset to 3 classes", got)
	}
	head, _ := headNode(m)
	w := m.Graph.Initializers[head.Input(1)]
	bound := float32(1 / math.Sqrt(256))
	for _, v := range w.Float {
		if v < -bound || v > bound {
			t.Fatalf("weight %v outside ±1/√in = ±%v", v, bound)
		}
	}
	all := smallData(t, "train", 300, []int{784})
	var idx []int
	for i, y := range all.Y {
		if y < 3 {
			idx = append(idx, i)
		}
	}
	three := all.Subset(idx)
	three.Classes = 3
	res, err := Train(m, three, three, TrainConfig{Epochs: 2, BatchSize: 16, Regs: RegsFixed})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.History; h[1].TrainLoss >= h[0].TrainLoss {
		t.Errorf("3-class fine-tuning did not learn: %+v", h)
	}
	var he *HeadError
	if err := ResetHead(m, 1, 0); !errors.As(err, &he) || he.Classes != 1 || !strings.Contains(err.Error(), "need at least 2 classes") {
		t.Errorf("reset to 1 class: error %v, want a *HeadError for 1 class", err)
	}
}

// TestDivergenceStops: a learning rate that blows the loss up stops the run with ErrDiverged and
// leaves the last checkpoint, written before the blow-up, in place.
func TestDivergenceStops(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	train, reg := smallData(t, "train", 256, []int{784}), smallData(t, "reg", 64, []int{784})
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	_, err := Train(m, train, reg, TrainConfig{Epochs: 50, BatchSize: 32, LR: 1e38, Regs: RegsFixed,
		Checkpoint: ckpt, CheckpointEvery: 1})
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), ckpt) || !strings.Contains(err.Error(), "became non-finite after") {
		t.Fatalf("err = %v, want ErrDiverged naming the checkpoint and saying the run blew up later", err)
	}
	ck, err := LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range ck.Values {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("checkpoint value %s is %v: written after the divergence", name, x)
			}
		}
	}
}

// TestDivergenceBadWeights: a model holding NaN diverges from the first step; the message says so,
// names the initializer, and names no checkpoint, since none was written.
func TestDivergenceBadWeights(t *testing.T) {
	m := injectedFixture(t, "mlp-ln-op13.onnx")
	var name string
	for _, n := range m.Graph.InitializerNames {
		if w := m.Graph.Initializers[n]; w.DType == onnximport.Float32 && len(w.Dims) == 2 {
			name = n
			break
		}
	}
	w := m.Graph.Initializers[name]
	bad := append([]float32(nil), w.Float...)
	bad[len(bad)/2] = float32(math.NaN())
	if err := m.SetInitializer(onnximport.NewFloatTensor(name, w.Dims, bad)); err != nil {
		t.Fatal(err)
	}
	train, reg := smallData(t, "train", 64, []int{784}), smallData(t, "reg", 32, []int{784})
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	_, err := Train(m, train, reg, TrainConfig{Epochs: 1, BatchSize: 32, Regs: RegsFixed, Checkpoint: ckpt, CheckpointEvery: 1})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v, want ErrDiverged", err)
	}
	msg := err.Error()
	for _, want := range []string{"from the first step", fmt.Sprintf("initializer %q holds NaN", name), "no checkpoint was written"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, ckpt) {
		t.Errorf("error %q names a checkpoint that does not exist", msg)
	}
}
