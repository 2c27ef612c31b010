package xreg

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/xreg-onnx/xreg-onnx/executor"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/optim"
	"github.com/xreg-onnx/xreg-onnx/internal/probs"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// EpochStats summarises one epoch.
type EpochStats struct {
	Kind  string `json:"kind"` // "epoch"
	Epoch int    `json:"epoch"`
	Step  int    `json:"step"`
	// TrainLoss and TrainAcc are means over the epoch's training batches (noisy passes).
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	// RegNLL and RegAcc are the deterministic NLL and accuracy on the whole regularization set.
	RegNLL float64 `json:"reg_nll"`
	RegAcc float64 `json:"reg_acc"`
	// Sigma is σ = exp(log σ) per noise reg (the mean over channels for per-channel regs), keyed by
	// inject.SigmaKey; Magnitude is each augmentation magnitude and each learned weight norm
	// ρ = exp(log ρ). Both are empty with regs off.
	Sigma     map[string]float64 `json:"sigma,omitempty"`
	Magnitude map[string]float64 `json:"magnitude,omitempty"`
	TrainSize int                `json:"train_size"`
	Seconds   float64            `json:"seconds"`
}

// TrainResult is what Train returns.
type TrainResult struct {
	Steps, Epochs int
	History       []EpochStats
	// Values are the final values of every initializer the trainer touched, by name.
	Values map[string]*tensor.Dense
	// Seconds is the wall time of this call; ThetaSeconds the part spent on θ steps (forward,
	// backward, update) and RegSeconds the part spent on φ updates. RegSeconds / ThetaSeconds is
	// cross-regularization's overhead over plain training with the same steps.
	Seconds, ThetaSeconds, RegSeconds float64
	// Provenance is the metadata WriteResult records in the trained model (keys xreg.train.…):
	// the data, the settings, the steps and the final σ.
	Provenance map[string]string
}

// ErrDiverged is returned (wrapped) when the training loss becomes NaN or infinite.
var ErrDiverged = errors.New("training diverged")

// trainer holds the state of one Train call.
type trainer struct {
	cfg       TrainConfig
	model     *onnximport.Model
	regs      []inject.Reg
	output    string
	weights   onnximport.WeightOptions
	trainNet  *executor.Net
	phiRun    *phiPasses    // the φ loss and gradient (phi.go); nil unless φ is learned
	evalNet   *executor.Net // per-epoch deterministic evaluation on the regularization set
	values    map[string]*tensor.Dense
	theta     []string
	phi       []string
	optTheta  optim.Optimizer
	optPhi    optim.Optimizer
	step      int
	epoch     int
	logLines  int
	regTime   time.Duration
	thetaTime time.Duration
	lastReg   float64
	inputName string
	fprint    string
	// epochStart is the step at which the current epoch began (-1 before the first), and
	// epochTrainSize the training-set size it runs over.
	epochStart     int
	epochTrainSize int
	// firstStep is the step this run started at (after a resume, the checkpoint's).
	firstStep int
	// reg is the regularization set; hooks are the loop's hooks in order.
	reg   *dataset.Set
	hooks []Hooks

	// arena lends the op output buffers of all three nets, which run one after another: the
	// trainer's peak memory is that of its largest pass, not the sum of the nets'.
	arena *executor.Arena
}

// Train fine-tunes an injected model: θ on train, φ on reg (cross-regularization), as cfg says.
// The model's initializers are not changed; call WriteBack with the result's Values.
func Train(m *onnximport.Model, train, reg *dataset.Set, cfg TrainConfig) (*TrainResult, error) {
	start := time.Now()
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	t := &trainer{cfg: cfg, model: m, epochStart: -1, reg: reg}
	if err := t.setup(train, reg); err != nil {
		return nil, trainErr(err)
	}
	res := &TrainResult{}
	if cfg.Resume && cfg.Checkpoint != "" {
		ck, err := LoadCheckpoint(cfg.Checkpoint)
		switch {
		case errors.Is(err, ErrNoCheckpoint):
			// Nothing to resume: start from the beginning.
		case err != nil:
			return nil, err
		default:
			if err := t.restore(ck); err != nil {
				return nil, fmt.Errorf("xreg: train: resume from %s: %w", cfg.Checkpoint, err)
			}
		}
	}
	t.firstStep = t.step
	stepsPerEpoch := train.Len() / cfg.BatchSize
	if stepsPerEpoch == 0 {
		return nil, fmt.Errorf("xreg: train: %d training examples do not fill one batch of %d", train.Len(), cfg.BatchSize)
	}
	total := t.step + (cfg.Epochs-t.epoch)*stepsPerEpoch
	t.hooks = t.buildHooks()
	if err := callHooks(t.hooks, func(h Hooks) func(Progress) error { return h.OnStart }, Progress{Step: t.step, Total: total, Epoch: t.epoch}); err != nil {
		return nil, err
	}
	for t.epoch < cfg.Epochs {
		st, err := t.runEpoch(train, reg, total)
		if err != nil {
			return nil, err
		}
		if err := callHooks(t.hooks, func(h Hooks) func(*EpochStats) error { return h.OnEpoch }, &st); err != nil {
			return nil, err
		}
		res.History = append(res.History, st)
	}
	res.Steps, res.Epochs, res.Values = t.step, t.epoch, t.values
	res.Seconds, res.ThetaSeconds, res.RegSeconds = time.Since(start).Seconds(), t.thetaTime.Seconds(), t.regTime.Seconds()
	res.Provenance = provenance(m, train, reg, cfg, res)
	if err := callHooks(t.hooks, func(h Hooks) func(*TrainResult) error { return h.OnEnd }, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (t *trainer) setup(train, reg *dataset.Set) error {
	m, cfg := t.model, t.cfg
	if len(m.Graph.Inputs) != 1 || len(m.Graph.Outputs) < 1 {
		return fmt.Errorf("the model must have one input and a logits output (it has %d inputs, %d outputs)", len(m.Graph.Inputs), len(m.Graph.Outputs))
	}
	t.inputName, t.output = m.Graph.Inputs[0].Name, m.Graph.Outputs[0].Name
	regs, err := inject.Regs(m)
	if err != nil && cfg.Regs != RegsOff {
		return &ConfigError{Field: "Regs", Value: cfg.Regs, Reason: "the model carries no usable regs (inject it first, or train with RegsOff)", Err: err}
	}
	t.regs = regs
	if err := checkData(m, train, "training"); err != nil {
		return err
	}
	if err := checkData(m, reg, "regularization"); err != nil {
		return err
	}
	t.fprint = fingerprint(m)
	if t.weights, err = weightOptions(m, regs, cfg.Trainable); err != nil {
		return err
	}

	t.arena = executor.NewArena()
	t.trainNet, err = executor.Build(m, executor.BuildOptions{Batch: cfg.BatchSize, Training: true, Weights: t.weights, Arena: t.arena})
	if err != nil {
		return err
	}
	t.values = t.trainNet.Values
	if cfg.Sigma > 0 {
		for _, r := range regs {
			if r.Kind == inject.KindNoise {
				v, ok := t.values[r.Name]
				if !ok {
					return fmt.Errorf("noise reg %q is not used by the graph", r.Name)
				}
				fillAll(v, math.Log(cfg.Sigma))
			}
		}
	}
	isPhi := map[string]bool{}
	for _, r := range regs {
		isPhi[r.Name] = true
		t.phi = append(t.phi, r.Name)
	}
	frozen, err := frozenParams(m, t.trainNet.ParamNames, isPhi, cfg.Freeze)
	if err != nil {
		return err
	}
	for _, name := range t.trainNet.ParamNames {
		if !isPhi[name] && !frozen[name] && !t.trainNet.State[name] {
			t.theta = append(t.theta, name)
		}
	}
	if len(t.theta) == 0 {
		return &ConfigError{Field: "Freeze", Value: fmt.Sprintf("%q", cfg.Freeze), Reason: "every param is frozen: nothing to train"}
	}
	loss, err := t.trainNet.MCNLL(t.output, 1, cfg.LabelSmoothing)
	if err != nil {
		return err
	}
	if err := t.trainNet.Grad(loss, t.theta...); err != nil {
		return err
	}
	if t.optTheta, err = optim.New(optim.Spec{Name: optim.AdamName, LR: cfg.LR, Beta1: cfg.Beta1, Beta2: cfg.Beta2, WeightDecay: cfg.WeightDecay}); err != nil {
		return err
	}
	if cfg.Regs == RegsLearn && len(t.phi) > 0 {
		t.phiRun, err = newPhiPasses(m, phiOptions{k: cfg.MC, n: cfg.RegBatch, batchStats: cfg.RegBatchNorm == "batch",
			values: t.values, weights: t.weights, input: t.inputName, output: t.output, phi: t.phi, arena: t.arena})
		if err != nil {
			return err
		}
		if t.optPhi, err = optim.New(optim.Spec{Name: cfg.RegOptimizer, LR: cfg.RegLR}); err != nil {
			return err
		}
	}
	// Compile now, so that all start-up work is done before the first step.
	nets := []*executor.Net{t.trainNet}
	if t.phiRun != nil {
		nets = append(nets, t.phiRun.net, t.phiRun.fwd)
	}
	for _, n := range nets {
		if n != nil {
			if err := n.Compile(); err != nil {
				return err
			}
		}
	}
	return nil
}

// trainErr gives an error of setup its context: a *ConfigError already has it.
func trainErr(err error) error {
	if ce := (*ConfigError)(nil); errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("xreg: train: %w", err)
}

// checkData verifies that a data set fits the model's input and output.
func checkData(m *onnximport.Model, s *dataset.Set, what string) error {
	if s == nil || s.Len() == 0 {
		return fmt.Errorf("the %s set is empty", what)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s set: %w", what, err)
	}
	in := m.Graph.Inputs[0]
	if in.HasShape && len(in.Shape) > 0 {
		per := in.Shape[1:]
		n := 1
		for _, d := range per {
			if d < 0 {
				return nil // unknown per-example shape: executor.Build will check
			}
			n *= d
		}
		if n != s.Dim() {
			return fmt.Errorf("%s set %s: examples have shape %v (%d values), model input %q wants %v", what, s.Source, s.Shape, s.Dim(), in.Name, per)
		}
	}
	return nil
}

// stream identifies the purpose of a random generator derived from (seed, step).
const (
	streamShuffle = iota + 1
	streamTrainNoise
	streamRegBatch
	streamRegNoise
)

func (t *trainer) rng(purpose, index int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(t.cfg.Seed), uint64(index)<<4|uint64(purpose)))
}

func (t *trainer) runEpoch(train, reg *dataset.Set, total int) (EpochStats, error) {
	cfg := t.cfg
	start := time.Now()
	if t.epochStart < 0 || t.epochTrainSize != train.Len() {
		t.epochStart = t.step // a fresh epoch (or a resumed run whose training set grew)
	}
	t.epochTrainSize = train.Len()
	skip := t.step - t.epochStart
	var lossSum, accSum float64
	var seen int
	shape := append([]int{cfg.BatchSize}, train.Shape...)
	inputShape := t.trainNet.Inputs[t.inputName].Shape()
	if inputShape.TotalSize() == cfg.BatchSize*train.Dim() {
		shape = append([]int(nil), inputShape...)
	}
	x := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, cfg.BatchSize*train.Dim())))
	i := 0
	for b := range train.Batches(cfg.BatchSize, t.rng(streamShuffle, t.epoch), true) {
		if i < skip {
			i++
			continue
		}
		i++
		stepStart := time.Now()
		copy(x.Float32s(), b.X)
		if err := t.trainNet.SetMCLabels(b.Y); err != nil {
			return EpochStats{}, err
		}
		noise := executor.Noise{}
		if cfg.Regs != RegsOff {
			noise.Rand = t.rng(streamTrainNoise, t.step)
		}
		if err := t.trainNet.Forward(map[string]*tensor.Dense{t.inputName: x}, noise); err != nil {
			return EpochStats{}, err
		}
		loss, err := t.trainNet.LossValue()
		if err != nil {
			return EpochStats{}, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return EpochStats{}, t.diverged(t.step+1, t.step-t.firstStep, fmt.Sprintf("loss %v", loss), b.X)
		}
		lossSum += loss * float64(len(b.Y))
		accSum += float64(correct(t.trainNet.Outputs[0].Value(), b.Y))
		seen += len(b.Y)
		if err := t.updateTheta(); err != nil {
			return EpochStats{}, err
		}
		t.thetaTime += time.Since(stepStart)
		t.step++
		if t.phiRun != nil && t.step%cfg.RegEvery == 0 {
			if err := t.updatePhi(reg); err != nil {
				return EpochStats{}, err
			}
		}
		if err := callHooks(t.hooks, func(h Hooks) func(Progress) error { return h.OnStep }, Progress{Step: t.step, Total: total, Epoch: t.epoch, Loss: loss}); err != nil {
			return EpochStats{}, err
		}
	}
	t.epoch++
	t.epochStart = t.step
	st := EpochStats{Kind: "epoch", Epoch: t.epoch, Step: t.step, TrainSize: train.Len()}
	if seen > 0 {
		st.TrainLoss, st.TrainAcc = lossSum/float64(seen), accSum/float64(seen)
	}
	st.Sigma, st.Magnitude = t.regValues()
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

func (t *trainer) updateTheta() error {
	params := make([]optim.Param, len(t.theta))
	for i, name := range t.theta {
		g, err := t.trainNet.GradValue(name)
		if err != nil {
			return err
		}
		params[i] = optim.Param{Name: name, W: t.values[name].Float32s(), G: g.Float32s()}
	}
	if t.cfg.ClipNorm > 0 {
		optim.ClipGlobalNorm(params, t.cfg.ClipNorm)
	}
	return t.optTheta.Step(params)
}

// updatePhi runs K noisy passes over one regularization batch (phi.go: nets of about one batch,
// not K) and takes one step on φ.
func (t *trainer) updatePhi(reg *dataset.Set) error {
	start := time.Now()
	cfg := t.cfg
	r := t.rng(streamRegBatch, t.step)
	n, d := cfg.RegBatch, reg.Dim()
	idx := make([]int, n)
	if n <= reg.Len() {
		copy(idx, r.Perm(reg.Len())[:n])
	} else {
		for i := range idx {
			idx[i] = r.IntN(reg.Len())
		}
	}
	xs := make([]float32, n*d)
	labels := make([]int, n)
	for i, j := range idx {
		ex, y := reg.Example(j)
		labels[i] = y
		copy(xs[i*d:(i+1)*d], ex)
	}
	// Each unit of passes (phi.go) draws its noise from its own generator, seeded from (seed, step):
	// the per-pass scheme reruns a pass with the same noise, and a resumed run draws the same.
	nr := t.rng(streamRegNoise, t.step)
	seeds := make([][2]uint64, t.phiRun.units())
	for i := range seeds {
		seeds[i] = [2]uint64{nr.Uint64(), nr.Uint64()}
	}
	loss, err := t.phiRun.run(xs, d, labels, func(u int) executor.Noise {
		return executor.Noise{Rand: rand.New(rand.NewPCG(seeds[u][0], seeds[u][1]))}
	})
	if err != nil {
		return err
	}
	params := make([]optim.Param, len(t.phi))
	for i, name := range t.phi {
		g64 := t.phiRun.grads[name]
		g := make([]float32, len(g64))
		for j, v := range g64 {
			g[j] = float32(v)
		}
		params[i] = optim.Param{Name: name, W: t.values[name].Float32s(), G: g}
	}
	if err := t.optPhi.Step(params); err != nil {
		return err
	}
	t.lastReg = loss
	t.regTime += time.Since(start)
	sigma, mag := t.regValues()
	return callHooks(t.hooks, func(h Hooks) func(RegUpdate) error { return h.OnRegUpdate },
		RegUpdate{Kind: "reg", Step: t.step, Epoch: t.epoch, RegNLL: loss, Sigma: sigma, Magnitude: mag})
}

// regValues returns σ per noise reg (mean over channels), keyed by inject.SigmaKey, and each
// augmentation magnitude and learned weight norm ρ; nothing with regs off, where no noise or
// augmentation is applied.
func (t *trainer) regValues() (sigma, mag map[string]float64) {
	if t.cfg.Regs == RegsOff {
		return nil, nil
	}
	for _, r := range t.regs {
		v, ok := t.values[r.Name]
		if !ok {
			continue
		}
		data := v.Float32s()
		var s float64
		for _, x := range data {
			if r.Kind == inject.KindNoise || r.Kind == inject.KindNorm { // log σ, log ρ
				s += math.Exp(float64(x))
			} else {
				s += float64(x)
			}
		}
		s /= float64(len(data))
		if r.Kind == inject.KindNoise {
			if sigma == nil {
				sigma = map[string]float64{}
			}
			sigma[inject.SigmaKey(r.Name)] = s
		} else {
			if mag == nil {
				mag = map[string]float64{}
			}
			mag[r.Name] = s
		}
	}
	return sigma, mag
}

func (t *trainer) writeLog(v any) error {
	if t.cfg.Log == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("xreg: log: %w", err)
	}
	if _, err := t.cfg.Log.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("xreg: log: %w", err)
	}
	t.logLines++
	return nil
}

func (t *trainer) checkpoint(trainSize int) error {
	if t.cfg.Checkpoint == "" {
		return nil
	}
	c := &Checkpoint{Model: t.model.Path, Fingerprint: t.fprint, Seed: t.cfg.Seed, Step: t.step, Epoch: t.epoch,
		TrainSize: trainSize, Values: map[string][]float32{}, Params: t.optTheta.State(), LogLines: t.logLines,
		EpochStart: t.epochStart}
	if t.optPhi != nil {
		c.Regs = t.optPhi.State()
	}
	for name, v := range t.values {
		data := v.Float32s()
		for _, x := range data {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				// Never replace the last good checkpoint with a broken state.
				return t.diverged(t.step, t.step-t.firstStep, fmt.Sprintf("%s holds %v", name, x), nil)
			}
		}
		c.Values[name] = data // streamed by SaveCheckpoint, not copied
	}
	return SaveCheckpoint(t.cfg.Checkpoint, c)
}

func (t *trainer) restore(c *Checkpoint) error {
	if c.Fingerprint != t.fprint {
		return fmt.Errorf("the checkpoint was written for another model (%s)", c.Model)
	}
	if c.Seed != t.cfg.Seed {
		return fmt.Errorf("the checkpoint was written with seed %d, this run has seed %d", c.Seed, t.cfg.Seed)
	}
	for name, v := range t.values {
		saved, ok := c.Values[name]
		if !ok || len(saved) != len(v.Float32s()) {
			return fmt.Errorf("the checkpoint has no value of the right size for %q", name)
		}
		copy(v.Float32s(), saved)
	}
	if err := t.optTheta.SetState(c.Params); err != nil {
		return err
	}
	if t.optPhi != nil && c.Regs.Kind != "" {
		if err := t.optPhi.SetState(c.Regs); err != nil {
			return err
		}
	}
	t.step, t.epoch, t.logLines = c.Step, c.Epoch, c.LogLines
	t.epochStart, t.epochTrainSize = c.EpochStart, c.TrainSize
	return nil
}

// fingerprint identifies a model's graph structure and initializer shapes.
func fingerprint(m *onnximport.Model) string {
	h := newHasher()
	for _, n := range m.Graph.Nodes {
		h.add(n.OpType, n.Name)
		for _, in := range n.Inputs {
			h.add(in)
		}
	}
	names := append([]string(nil), m.Graph.InitializerNames...)
	sort.Strings(names)
	for _, name := range names {
		h.add(name, fmt.Sprint(m.Graph.Initializers[name].Dims))
	}
	return h.sum()
}

func fillAll(v *tensor.Dense, x float64) {
	d := v.Float32s()
	for i := range d {
		d[i] = float32(x)
	}
}

// correct counts rows of a (batch, classes) logits value whose argmax is the label.
func correct(v any, labels []int) int {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return 0
	}
	x := d.Float32s()
	c := len(x) / len(labels)
	n := 0
	for i, y := range labels {
		if probs.Argmax(x[i*c:(i+1)*c]) == y {
			n++
		}
	}
	return n
}

func nllAcc(ps [][]float64, labels []int) (nll, acc float64) {
	for i, p := range ps {
		nll += probs.NLL(p, labels[i])
		if probs.Argmax(p) == labels[i] {
			acc++
		}
	}
	n := float64(len(ps))
	return nll / n, acc / n
}
