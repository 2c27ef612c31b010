package finetune

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// Baselines.
const (
	// BaselineNone compares the cross-regularized model with the original only.
	BaselineNone = "none"
	// BaselinePlain adds a plain fine-tune (no noise) with the same budget [default].
	BaselinePlain = "plain"
	// BaselineGrid adds the plain fine-tune and the fixed-σ grid search (len(GridSigmas) runs).
	BaselineGrid = "grid"
)

// GridSigmas are the fixed global σ of the grid search (PROTOCOL.md, method 4); σ = 0 is the plain
// fine-tune.
var GridSigmas = []float64{0, 0.25, 0.5, 1, 2, 4, 8}

// DefaultTolerance is the NLL margin within which the recommendation prefers a simpler model.
const DefaultTolerance = 0.005

// Data names one labelled data set: a path in any format package dataset reads, an optional
// labels file and an optional limit on the number of examples (0: all).
type Data struct {
	Path, Labels string
	Limit        int
}

// Config configures Run. Model, TrainData, TestData and Out are required, and either RegData or
// RegFraction.
type Config struct {
	// Model is the pretrained ONNX classifier (one input, logits output).
	Model string
	// TrainData moves θ; RegData moves φ and chooses the model to ship. Without RegData.Path,
	// RegFraction of TrainData (seeded by Training.Seed) is carved out as the regularization set.
	TrainData, RegData Data
	RegFraction        float64
	// TestData measures every model; it plays no part in training or choosing.
	TestData Data
	// Preprocess converts the images of image folders (resize, crop, mean/std, channel order,
	// layout) for every data set; nil: the spec the model records (preprocess.MetadataKey), if any.
	// It is recorded in every model Run writes, so predict, serve and report apply it by default.
	Preprocess *preprocess.Spec
	// Inject configures the noise points (package inject).
	Inject inject.Options
	// Training configures every training run (package xreg). Regs, Sigma, Log, Checkpoint and
	// Resume are set by Run for each run; Epochs, batch and optimizer settings are shared, so the
	// baselines get the same budget as the cross-regularized run.
	Training xreg.TrainConfig
	// Baseline is BaselineNone, BaselinePlain [default] or BaselineGrid.
	Baseline string
	// ExportMC is K of the frozen Monte-Carlo export [Training.MC]; negative: no MC export.
	ExportMC int
	// Tolerance is the recommendation's NLL margin [DefaultTolerance].
	Tolerance float64
	// Bins is the number of confidence bins of ECE and the diagrams [calib.DefaultBins].
	Bins int
	// Out is the output folder; an existing one is replaced only with Force.
	Out   string
	Force bool
	// Version and Build (e.g. "gonum BLAS") describe the tool in the report's context.
	Version, Build string
	// OnRun is called before each training run with its name, its index from 1 and the count.
	OnRun func(name string, i, n int)
}

// Result is what Run produced.
type Result struct {
	// Report is the report written to Out (its Recommendation names the model to ship).
	Report *calib.Report
	// Files maps each model name of the report to the file that holds it (the original: its
	// input path).
	Files map[string]string
	// Seconds is the wall time of the whole run.
	Seconds float64
}

// run is one training run and what came out of it.
type run struct {
	name    string
	regs    xreg.RegMode
	sigma   float64
	model   *onnximport.Model // trained, injected
	res     *xreg.TrainResult
	log     bytes.Buffer
	regNLL  float64 // deterministic regularization-set NLL after the last epoch
	seconds float64
}

// candidate is one model of the report before it is measured.
type candidate struct {
	name, desc, file string // file: relative to Out ("" for the original)
	data             []byte
	// load, when set, gives data at measurement time (the original: not held through training).
	load     func() ([]byte, error)
	met, sel *calib.Metrics
}

// Run runs the journey (see the package documentation) and writes the result into cfg.Out.
func Run(cfg Config) (*Result, error) {
	start := time.Now()
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	// Every model is measured in onnxruntime: find it before minutes of training, not after.
	if err := ort.Available(); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	orig, err := os.ReadFile(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	sum, size := sha256.Sum256(orig), len(orig)
	m, err := onnximport.ParseFile(cfg.Model, orig) // the bytes just hashed: the file is read once
	if err != nil {
		return nil, err
	}
	// m holds its own copy of the weights: the file's bytes are not kept through training (537 MB
	// for vgg16-bn); the original is read again to be measured, and must not have changed.
	orig = nil
	shape, classes, err := ClassifierIO(m)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	pre, err := cfg.preprocessing(m, shape)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	train, reg, test, err := cfg.load(shape, classes, pre.spec)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if pre.spec != nil {
		// Every model derived from m (the runs, the exports) records it.
		m.SetMetadata(preprocess.MetadataKey, pre.spec.Marshal())
	}
	injected := m.Clone()
	irep, err := inject.Apply(injected, cfg.Inject)
	if err != nil {
		return nil, err
	}
	noise := 0
	for _, r := range irep.Regs {
		if r.Kind == inject.KindNoise {
			noise++
		}
	}
	if len(irep.Regs) == 0 {
		return nil, fmt.Errorf("finetune: %s: the injection gave neither a noise point nor an augmentation: nothing for cross-regularization to learn", cfg.Model)
	}

	runs := cfg.plan()
	for i, r := range runs {
		if cfg.OnRun != nil {
			cfg.OnRun(r.name, i+1, len(runs))
		}
		if err := cfg.train(r, injected, train, reg); err != nil {
			return nil, err
		}
	}
	byName := map[string]*run{}
	for _, r := range runs {
		byName[r.name] = r
	}

	// The candidates, in order of simplicity.
	calSet := reg
	var cands []*candidate
	original := &candidate{name: "original", desc: "the input model, untouched", load: func() ([]byte, error) { return reread(cfg.Model, sum) }}
	if pre.write {
		// The input does not record the preprocessing: ship it with it recorded, weights untouched.
		original.load = m.Marshal
		original.desc = "the input model, weights untouched, with the preprocessing recorded"
		original.file = "models/original.onnx"
	}
	// Measured before the other candidates are serialised: its bytes, read again, are not held
	// beside theirs.
	var evalSeconds float64
	if err := measureOn(original, test, reg, cfg.Bins, &evalSeconds); err != nil {
		return nil, err
	}
	cands = append(cands, original)
	withT := func(name, desc, file string, from *onnximport.Model) error {
		mm := from.Clone()
		rep, err := export.Apply(mm, export.Options{Calibration: calSet, Version: cfg.Version})
		if err != nil {
			return err
		}
		data, err := mm.Marshal()
		if err != nil {
			return err
		}
		cands = append(cands, &candidate{name: name, desc: fmt.Sprintf("%s, temperature T = %.3f fitted on the regularization set", desc, rep.Temperature), file: file, data: data})
		return nil
	}
	det := func(name, desc, file string, from *onnximport.Model, opt export.Options) error {
		mm := from.Clone()
		opt.Version = cfg.Version
		if _, err := export.Apply(mm, opt); err != nil {
			return err
		}
		data, err := mm.Marshal()
		if err != nil {
			return err
		}
		cands = append(cands, &candidate{name: name, desc: desc, file: file, data: data})
		return nil
	}
	if err := withT("original+T", "the input model", "models/original.temperature.onnx", injected); err != nil {
		return nil, err
	}
	budget := fmt.Sprintf("%d epochs", cfg.Training.Epochs)
	if r := byName["plain"]; r != nil {
		if err := det("plain", "fine-tuned without noise ("+budget+")", "models/plain.onnx", r.model, export.Options{}); err != nil {
			return nil, err
		}
		if err := withT("plain+T", "plain", "models/plain.temperature.onnx", r.model); err != nil {
			return nil, err
		}
	}
	var chosen *run
	if cfg.Baseline == BaselineGrid {
		for _, r := range runs {
			if r.regs != xreg.RegsLearn && (chosen == nil || r.regNLL < chosen.regNLL) {
				chosen = r
			}
		}
		desc := fmt.Sprintf("fine-tuned with fixed σ = %g, the best of the %d-run grid by regularization-set NLL (%s each)", chosen.sigma, len(GridSigmas), budget)
		if err := det("grid", desc, "models/grid.onnx", chosen.model, export.Options{}); err != nil {
			return nil, err
		}
		if err := withT("grid+T", "grid", "models/grid.temperature.onnx", chosen.model); err != nil {
			return nil, err
		}
	}
	x := byName["xreg"]
	if err := det("xreg", "cross-regularized ("+budget+", σ learned), noise removed", "models/xreg.onnx", x.model, export.Options{}); err != nil {
		return nil, err
	}
	if err := withT("xreg+T", "xreg", "models/xreg.temperature.onnx", x.model); err != nil {
		return nil, err
	}
	k := cfg.ExportMC
	if k > 0 {
		name := fmt.Sprintf("xreg-mc%d", k)
		desc := fmt.Sprintf("xreg as a frozen ensemble of %d noise draws (seed %d): %d× the inference cost", k, cfg.Training.Seed, k)
		if err := det(name, desc, "models/"+name+".onnx", x.model, export.Options{MC: k, Seed: cfg.Training.Seed}); err != nil {
			return nil, err
		}
	}

	for _, c := range cands[1:] {
		if err := measureOn(c, test, reg, cfg.Bins, &evalSeconds); err != nil {
			return nil, err
		}
	}

	rep := &calib.Report{
		Title:         "Fine-tuning report: " + filepath.Base(cfg.Model),
		SelectionData: fmt.Sprintf("regularization set, %d examples", reg.Len()),
	}
	files := map[string]string{}
	for _, c := range cands {
		file := cfg.Model
		if c.file != "" {
			file = filepath.Join(cfg.Out, c.file)
		}
		files[c.name] = file
		rep.Models = append(rep.Models, calib.Model{Name: c.name, Description: c.desc, File: file, Metrics: c.met, Selection: c.sel})
	}
	rec := Recommend(rep.Models, cfg.Tolerance)
	rep.Recommendation = &rec
	if t, err := calib.ReadTrajectoryFrom(bytes.NewReader(x.log.Bytes())); err == nil {
		rep.Trajectory = t
	}
	rep.Context = cfg.context(contextInfo{
		hash: hex.EncodeToString(sum[:]), size: size, shape: shape, classes: classes, injected: irep,
		train: train, reg: reg, test: test, runs: runs, evalSeconds: evalSeconds, start: start, pre: pre,
	})
	if err := cfg.write(rep, cands, runs); err != nil {
		return nil, err
	}
	return &Result{Report: rep, Files: files, Seconds: time.Since(start).Seconds()}, nil
}

// ErrInputChanged is the input model file changing during a run: the original is measured from
// the file, read again at the end, so the report would describe another model than it names.
var ErrInputChanged = errors.New("the input model changed during the run")

// reread reads path again and checks its SHA-256 against sum, the one taken at the start.
func reread(path string, sum [sha256.Size]byte) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the original model again to measure it: %w", err)
	}
	if now := sha256.Sum256(data); now != sum {
		return nil, fmt.Errorf("%s: %w (SHA-256 %x at the start, %x now); run again on an unchanging file", path, ErrInputChanged, sum[:6], now[:6])
	}
	return data, nil
}

// measureOn measures c on the test and regularization sets (loading its bytes first where
// c.load says how, and dropping them after when c is not written) and adds the time to *seconds.
func measureOn(c *candidate, test, reg *dataset.Set, bins int, seconds *float64) (err error) {
	start := time.Now()
	defer func() { *seconds += time.Since(start).Seconds() }()
	if c.load != nil {
		if c.data, err = c.load(); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
	}
	if c.met, err = measure(c, test, bins); err != nil {
		return fmt.Errorf("finetune: test data: %w", err)
	}
	if c.sel, err = measure(c, reg, bins); err != nil {
		return fmt.Errorf("finetune: regularization set: %w", err)
	}
	if c.file == "" {
		c.data = nil // measured and not written
	}
	return nil
}

// measure runs a candidate in onnxruntime over set and computes its metrics.
func measure(c *candidate, set *dataset.Set, bins int) (*calib.Metrics, error) {
	ev, err := predict.Evaluate(c.data, c.name, set, "")
	if err != nil {
		return nil, err
	}
	met, err := calib.Compute(ev.Probabilities, set.Y, bins)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return met, nil
}

func (cfg *Config) check() error {
	if err := cfg.Training.Normalize(); err != nil {
		return err
	}
	if cfg.Baseline == "" {
		cfg.Baseline = BaselinePlain
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Bins == 0 {
		cfg.Bins = calib.DefaultBins
	}
	if cfg.ExportMC == 0 {
		cfg.ExportMC = cfg.Training.MC
	}
	switch {
	case cfg.Model == "":
		return errors.New("no model given")
	case cfg.TrainData.Path == "":
		return errors.New("no training data given")
	case cfg.TestData.Path == "":
		return errors.New("no test data given: every model is measured on held-out test data")
	case cfg.RegData.Path == "" && !(cfg.RegFraction > 0 && cfg.RegFraction < 1):
		return fmt.Errorf("regularization fraction %v must lie in (0, 1) when no regularization data is given", cfg.RegFraction)
	case cfg.Baseline != BaselineNone && cfg.Baseline != BaselinePlain && cfg.Baseline != BaselineGrid:
		return fmt.Errorf("baseline %q is not none, plain or grid", cfg.Baseline)
	case cfg.Tolerance < 0:
		return fmt.Errorf("tolerance %v is negative", cfg.Tolerance)
	case cfg.Bins < 1:
		return fmt.Errorf("bins %d: want at least 1", cfg.Bins)
	case cfg.Out == "":
		return errors.New("no output folder given")
	}
	return checkOut(cfg.Out, cfg.Force, cfg.Model, cfg.TrainData.Path, cfg.RegData.Path, cfg.TestData.Path)
}

// ClassifierIO returns the per-example input shape and the number of classes of a classifier
// with one input of shape (batch, …) and a (batch, classes) first output.
func ClassifierIO(m *onnximport.Model) ([]int, int, error) {
	if len(m.Graph.Inputs) != 1 {
		return nil, 0, fmt.Errorf("%s has %d inputs; a classifier with one input is expected", m.Path, len(m.Graph.Inputs))
	}
	in := m.Graph.Inputs[0]
	if !in.HasShape || len(in.Shape) < 2 {
		return nil, 0, fmt.Errorf("%s: input %q declares no (batch, ...) shape", m.Path, in.Name)
	}
	shape := append([]int(nil), in.Shape[1:]...)
	for _, d := range shape {
		if d < 0 {
			return nil, 0, fmt.Errorf("%s: input %q has a dynamic non-batch dimension %v", m.Path, in.Name, in.Shape)
		}
	}
	out := m.Graph.Outputs[0]
	if !out.HasShape || len(out.Shape) != 2 || out.Shape[1] < 2 {
		return nil, 0, fmt.Errorf("%s: output %q should be (batch, classes) logits, declared %v", m.Path, out.Name, out.Shape)
	}
	return shape, out.Shape[1], nil
}

// preprocessing is the image preprocessing of a run and where it came from.
type preprocessing struct {
	spec *preprocess.Spec // nil: none
	// given: Config.Preprocess (else recorded in the model); write: the input model does not
	// record spec, so the original is written with it recorded.
	given, write bool
}

// preprocessing returns cfg.Preprocess, else the spec m records, checked against the model's
// per-example input shape. A bad Config.Preprocess is a *preprocess.SpecError.
func (cfg *Config) preprocessing(m *onnximport.Model, shape []int) (preprocessing, error) {
	recorded, has := m.Metadata(preprocess.MetadataKey)
	p := preprocessing{spec: cfg.Preprocess, given: cfg.Preprocess != nil}
	if p.given {
		if err := p.spec.Validate(); err != nil {
			return p, err
		}
		p.write = !has || recorded != p.spec.Marshal()
	} else if has {
		s, err := preprocess.Parse(recorded)
		if err != nil {
			return p, fmt.Errorf("%s: %w", cfg.Model, err)
		}
		p.spec = &s
	}
	if p.spec == nil {
		return p, nil
	}
	if err := p.spec.Check(shape); err != nil {
		if p.given {
			return p, err
		}
		return p, fmt.Errorf("%s: the recorded preprocessing does not fit the model: %w", cfg.Model, err)
	}
	return p, nil
}

// load reads the three data sets for a model of the given input shape and class count, images
// preprocessed by spec (nil: none).
func (cfg *Config) load(shape []int, classes int, spec *preprocess.Spec) (train, reg, test *dataset.Set, err error) {
	read := func(d Data, what string) (*dataset.Set, error) {
		s, err := dataset.Load(d.Path, dataset.Options{Labels: d.Labels, Shape: shape, Classes: classes, Limit: d.Limit, Preprocess: spec})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return s, nil
	}
	if train, err = read(cfg.TrainData, "training data"); err != nil {
		return nil, nil, nil, err
	}
	if cfg.RegData.Path != "" {
		if reg, err = read(cfg.RegData, "regularization data"); err != nil {
			return nil, nil, nil, err
		}
	} else if train, reg, err = train.Split(cfg.RegFraction, cfg.Training.Seed); err != nil {
		return nil, nil, nil, fmt.Errorf("regularization fraction: %w", err)
	}
	if test, err = read(cfg.TestData, "test data"); err != nil {
		return nil, nil, nil, err
	}
	return train, reg, test, nil
}

// plan lists the training runs: the baselines first, cross-regularization last.
func (cfg *Config) plan() []*run {
	var runs []*run
	switch cfg.Baseline {
	case BaselinePlain:
		runs = append(runs, &run{name: "plain", regs: xreg.RegsOff})
	case BaselineGrid:
		for _, s := range GridSigmas {
			if s == 0 {
				runs = append(runs, &run{name: "plain", regs: xreg.RegsOff})
				continue
			}
			runs = append(runs, &run{name: fmt.Sprintf("grid σ=%g", s), regs: xreg.RegsFixed, sigma: s})
		}
	}
	return append(runs, &run{name: "xreg", regs: xreg.RegsLearn})
}

// train runs one training run on a copy of the injected model.
func (cfg *Config) train(r *run, injected *onnximport.Model, train, reg *dataset.Set) error {
	tc := cfg.Training
	tc.Regs, tc.Sigma, tc.Log = r.regs, r.sigma, &r.log
	tc.Checkpoint, tc.Resume = "", false
	if tc.Version == "" {
		tc.Version = cfg.Version // recorded in the provenance by xreg.WriteResult
	}
	r.model = injected.Clone()
	res, err := xreg.Train(r.model, train, reg, tc)
	if err != nil {
		return fmt.Errorf("finetune: %s run: %w", r.name, err)
	}
	if err := xreg.WriteResult(r.model, res); err != nil {
		return err
	}
	r.res, r.seconds = res, res.Seconds
	if n := len(res.History); n > 0 {
		r.regNLL = res.History[n-1].RegNLL
	}
	return nil
}
