// Command xreg-bench runs the benchmark protocol of ../shared/PROTOCOL.md (kept in the project as
// docs/PROTOCOL-NOTES.md's summary) on the project's fixture models and writes the results: one JSON
// file per run (so an interrupted benchmark resumes where it stopped) and a Markdown summary.
//
//	go run ./cmd/xreg-bench -model mlp-ln -out results/protocol
//	go run ./cmd/xreg-bench -summary results/protocol > results/protocol/SUMMARY.md
//
// Methods per model and seed: no regularization (σ = 0), fixed σ = 1, cross-regularization
// (deterministic and Monte-Carlo averaged prediction), a grid over fixed σ chosen on the
// regularization set, temperature scaling of the unregularized model; plus the growing-data run.
//
// With -speed model.onnx it times training steps instead (random data, noise injected, the trainer
// of `xreg-onnx train`) and prints one JSON line: the Go side of `make bench-speed`
// (scripts/bench_speed.py). -kernels prints which kernels the binary has.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	_ "github.com/xreg-onnx/xreg-onnx/internal/blas" // OpenBLAS unless -tags purego
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// gridSigmas is the protocol's grid of fixed global σ.
var gridSigmas = []float64{0, 0.25, 0.5, 1, 2, 4, 8}

type modelSpec struct {
	file   string
	shape  []int
	epochs int
}

var models = map[string]modelSpec{
	"mlp-ln": {file: "mlp-ln-op13.onnx", shape: []int{784}, epochs: 100},
	"cnn-bn": {file: "cnn-bn.onnx", shape: []int{1, 28, 28}, epochs: 50},
}

func main() {
	d := xreg.DefaultConfig()
	var (
		modelName = flag.String("model", "mlp-ln", "fixture to benchmark: mlp-ln or cnn-bn")
		out       = flag.String("out", "results/protocol", "folder of per-run JSON results")
		seedsFlag = flag.String("seeds", "0,1,2", "comma-separated seeds")
		epochs    = flag.Int("epochs", 0, "override the protocol's epoch count (quick checks only)")
		regEvery  = flag.Int("reg-every", d.RegEvery, "r: φ update every r steps")
		mc        = flag.Int("mc", d.MC, "K: Monte-Carlo passes on the regularization set")
		regLR     = flag.Float64("reg-lr", 0.05, "Adam learning rate of φ (the protocol's 0.05, not the library's default)")
		testMC    = flag.Int("test-mc", 8, "fresh noise draws per example of the Monte-Carlo rows (onnxruntime)")
		trainerMC = flag.Bool("trainer-mc", false, "also evaluate the Monte-Carlo average with the trainer's executor (method 6; slow: it repeats the onnxruntime fresh-MC row)")
		methods   = flag.String("methods", "none,fixed,learn,grid,growing", "methods to run")
		data      = flag.String("data", "/usr/share/datasets/fashion-mnist", "folder of the Fashion-MNIST IDX files")
		summary   = flag.String("summary", "", "print the Markdown summary of the results in this folder and exit")
		sigma0    = flag.Float64("sigma0", 0, "initial σ of the learn runs (0: inject's default e^-2)")
		regBN     = flag.String("reg-batchnorm", d.RegBatchNorm, "BatchNorm in the regularization passes: eval or batch (also of -speed)")
		noiseMode = flag.String("mode", "additive", "noise mode injected: additive or multiplicative")
		placement = flag.String("placement", inject.DefaultPlacement, "comma-separated noise placements of the learn and growing runs (one run each): post-affine, pre-affine")
		split     = flag.String("split", "protocol", "data split: protocol (train 0–999, reg 59000–59999) or unseen (train 10000–10999, reg 20000–20999); test is t10k")
		testLimit = flag.Int("test-limit", 0, "evaluate on the first N t10k images only (0: all 10000; a budget cut, say so where results are quoted)")
		reinit    = flag.Bool("reinit", true, "draw θ's initial values from the seed (PyTorch's default init) instead of the fixture's")
		exports   = flag.Bool("exports", true, "measure the three exports of learn runs through onnxruntime")
		sens      = flag.String("sensitivity", "", "print a table of the learn runs in these comma-separated folders (r, K, φ lr, σ0) and exit")
		speed     = flag.String("speed", "", "time training steps of this ONNX model on random data (noise injected) and print one JSON line (scripts/bench_speed.py)")
		batch     = flag.Int("batch", 64, "batch size of -speed")
		steps     = flag.Int("steps", 5, "training steps of -speed (at least 3)")
		threads   = flag.Int("threads", 0, "GOMAXPROCS of -speed (0: Go's default)")
		setupOnly = flag.Bool("setup-only", false, "with -speed: stop where the first training step would begin and report the start-up time (setup_s) alone")
		epochEval = flag.Bool("epoch-eval", false, "with -speed: run the per-epoch evaluation too, as a real run does, on a regularization set of max(batch, 256) examples (its peak RSS)")
		cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of the -speed run (pprof) to this file")
		memprof   = flag.String("memprofile", "", "write a heap profile (pprof; Go memory in use) at the end of the -speed run's last step to this file")
		kernelsF  = flag.Bool("kernels", false, "print which kernels this binary has and exit")
	)
	flag.Parse()
	if *kernelsF {
		fmt.Println(kernelsLabel())
		return
	}
	if *speed != "" {
		if err := runSpeed(*speed, *batch, *steps, *threads, *cpuprof, *memprof, *regBN, *setupOnly, *epochEval); err != nil {
			fail(err)
		}
		return
	}
	if *sens != "" {
		if err := sensitivity(os.Stdout, strings.Split(*sens, ",")); err != nil {
			fail(err)
		}
		return
	}
	if *summary != "" {
		if err := writeSummary(os.Stdout, *summary); err != nil {
			fail(err)
		}
		return
	}
	spec, ok := models[*modelName]
	if !ok {
		fail(fmt.Errorf("-model %q: want mlp-ln or cnn-bn", *modelName))
	}
	if *epochs > 0 {
		spec.epochs = *epochs
	}
	var seeds []int64
	for _, s := range strings.Split(*seedsFlag, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			fail(fmt.Errorf("-seeds: %v", err))
		}
		seeds = append(seeds, v)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	b := &bench{name: *modelName, spec: spec, out: *out, regEvery: *regEvery, mc: *mc, regLR: *regLR, testMC: *testMC,
		sigma0: *sigma0, exports: *exports, regBN: *regBN, mode: *noiseMode, split: *split, reinit: *reinit, trainerMC: *trainerMC, testLimit: *testLimit}
	if err := b.load(*data); err != nil {
		fail(err)
	}
	want := map[string]bool{}
	for _, m := range strings.Split(*methods, ",") {
		want[strings.TrimSpace(m)] = true
	}
	for _, seed := range seeds {
		type job struct {
			method    string
			sigma     float64
			placement string
		}
		var jobs []job
		if want["none"] {
			jobs = append(jobs, job{"none", 0, ""})
		}
		if want["fixed"] {
			jobs = append(jobs, job{"fixed", 1, ""})
		}
		if want["learn"] {
			for _, p := range strings.Split(*placement, ",") {
				jobs = append(jobs, job{"learn", 0, strings.TrimSpace(p)})
			}
		}
		if want["grid"] {
			for _, s := range gridSigmas {
				if s == 0 || s == 1 {
					continue // the grid's σ = 0 and σ = 1 runs are the none and fixed runs
				}
				jobs = append(jobs, job{"grid", s, ""})
			}
		}
		if want["growing"] {
			for _, p := range strings.Split(*placement, ",") {
				jobs = append(jobs, job{"growing", 0, strings.TrimSpace(p)})
			}
		}
		for _, j := range jobs {
			b.placement = j.placement
			if b.placement == "" {
				b.placement = inject.DefaultPlacement
			}
			if err := b.run(j.method, j.sigma, seed); err != nil {
				fail(err)
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "xreg-bench:", err)
	os.Exit(1)
}

type bench struct {
	name                 string
	spec                 modelSpec
	out                  string
	regEvery, mc, testMC int
	regLR                float64
	sigma0               float64
	exports              bool
	regBN                string
	mode                 string
	placement, split     string
	reinit, trainerMC    bool
	testLimit            int
	train, reg, test     *dataset.Set
	small                *dataset.Set
}

func (b *bench) load(dir string) error {
	load := func(file string, offset, limit int) (*dataset.Set, error) {
		return dataset.Load(filepath.Join(dir, file), dataset.Options{Shape: b.spec.shape, Classes: 10, Offset: offset, Limit: limit})
	}
	offsets := map[string][2]int{"protocol": {0, 59000}, "unseen": {10000, 20000}}
	off, ok := offsets[b.split]
	if !ok {
		return fmt.Errorf("-split %q: want protocol or unseen", b.split)
	}
	var err error
	if b.train, err = load("train-images-idx3-ubyte.gz", off[0], 1000); err != nil {
		return fmt.Errorf("%w (install the Debian package dataset-fashion-mnist)", err)
	}
	if b.reg, err = load("train-images-idx3-ubyte.gz", off[1], 1000); err != nil {
		return err
	}
	if b.test, err = load("t10k-images-idx3-ubyte.gz", 0, b.testLimit); err != nil {
		return err
	}
	b.small = b.train.Slice(0, 200)
	return nil
}

func (b *bench) path(method string, sigma float64, seed int64) string {
	name := fmt.Sprintf("%s_%s_seed%d", b.name, method, seed)
	if (method == "learn" || method == "growing") && b.placement != inject.PostAffine {
		name = fmt.Sprintf("%s_%s-%s_seed%d", b.name, method, b.placement, seed)
	}
	if method == "grid" {
		name = fmt.Sprintf("%s_grid-%g_seed%d", b.name, sigma, seed)
	}
	return filepath.Join(b.out, name+".json")
}

func (b *bench) model(seed int64) (*onnximport.Model, error) {
	m, err := onnximport.Load(filepath.Join("testdata", "models", b.spec.file))
	if err != nil {
		return nil, err
	}
	if b.reinit {
		if err := reinit(m, seed); err != nil {
			return nil, err
		}
	}
	if _, err := inject.Apply(m, inject.Options{Mode: b.mode, Placement: b.placement}); err != nil {
		return nil, err
	}
	return m, nil
}

func (b *bench) run(method string, sigma float64, seed int64) error {
	path := b.path(method, sigma, seed)
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(os.Stderr, "skip %s (done)\n", path)
		return nil
	}
	m, err := b.model(seed)
	if err != nil {
		return err
	}
	cfg := xreg.DefaultConfig() // the protocol's batch size 64 and θ learning rate 1e-3 are the defaults
	cfg.Epochs, cfg.Seed, cfg.RegEvery, cfg.MC, cfg.RegLR, cfg.RegBatchNorm = b.spec.epochs, seed, b.regEvery, b.mc, b.regLR, b.regBN
	cfg.NoEpochEval = true
	switch method {
	case "none":
		cfg.Regs = xreg.RegsOff
	case "fixed", "grid":
		cfg.Regs, cfg.Sigma = xreg.RegsFixed, sigma
		if sigma == 0 {
			cfg.Regs = xreg.RegsOff
		}
	case "learn", "growing":
		cfg.Regs, cfg.Sigma = xreg.RegsLearn, b.sigma0
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "%s %s σ=%g seed %d: %d epochs ... ", b.name, method, sigma, seed, cfg.Epochs)
	var res *xreg.TrainResult
	if method == "growing" {
		res, err = b.growing(m, cfg)
	} else {
		res, err = xreg.Train(m, b.train, b.reg, cfg)
	}
	if err != nil {
		return err
	}
	r := Run{Model: b.name, Method: method, Seed: seed, Sigma: sigma, Epochs: res.Epochs, Steps: res.Steps,
		TrainSize: b.train.Len(), RegEvery: cfg.RegEvery, MC: cfg.MC, RegLR: cfg.RegLR, History: res.History,
		ThetaSeconds: res.ThetaSeconds, RegSeconds: res.RegSeconds, Sigma0: b.sigma0, RegBatchNorm: b.regBN, Mode: b.mode,
		Split: b.split, Reinit: b.reinit, TestSize: b.test.Len(),
		Machine: fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
		Date:    time.Now().UTC().Format("2006-01-02")}
	if method == "learn" || method == "growing" {
		r.Placement = b.placement
	}
	if res.ThetaSeconds > 0 {
		r.ImagesPerSecond = float64(res.Steps*cfg.BatchSize) / res.ThetaSeconds
	}
	if len(res.History) > 0 {
		r.FinalSigma = res.History[len(res.History)-1].Sigma
	}
	r.Provenance = res.Provenance
	predict := func(s *dataset.Set, mc int) ([][]float64, error) {
		return xreg.Predict(m, s, res.Values, xreg.PredictOptions{MC: mc, Seed: seed})
	}
	eval := func(s *dataset.Set, mc int) (*calib.Metrics, error) {
		probs, err := predict(s, mc)
		if err != nil {
			return nil, err
		}
		return calib.Compute(probs, s.Y, 15)
	}
	if method == "none" {
		// Temperature scaling: log-probabilities are logits up to a per-row constant.
		regP, err := predict(b.reg, 0)
		if err != nil {
			return err
		}
		testP, err := predict(b.test, 0)
		if err != nil {
			return err
		}
		if r.TestTemp, r.Temperature, err = b.tempered(regP, testP); err != nil {
			return err
		}
	}
	if r.Test, err = eval(b.test, 0); err != nil {
		return err
	}
	tr, err := eval(b.train, 0)
	if err != nil {
		return err
	}
	r.TrainAcc = tr.Accuracy
	rg, err := eval(b.reg, 0)
	if err != nil {
		return err
	}
	r.RegNLL = rg.NLL
	if method == "growing" || method == "learn" && (b.trainerMC || !b.exports) {
		if r.TestMC, err = eval(b.test, b.testMC); err != nil {
			return err
		}
		rmc, err := eval(b.reg, b.testMC)
		if err != nil {
			return err
		}
		r.RegMCNLL = rmc.NLL
	}
	if method == "learn" && b.exports {
		if err := b.measureExports(m, res, seed, &r); err != nil {
			return err
		}
	}
	r.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "%.0fs, test acc %.4f nll %.4f ece %.4f\n", r.Seconds, r.Test.Accuracy, r.Test.NLL, r.Test.ECE)
	// Keep the JSON small: bins and per-class stats are not needed for the summary.
	for _, mm := range []*calib.Metrics{r.Test, r.TestMC, r.TestTemp, r.ExportDet, r.ExportTemp, r.ExportMC, r.FreshMC, r.FreshMCTemp, r.ExportMCTemp, r.ExportDistilled} {
		if mm != nil {
			mm.AdaptiveBins, mm.PerClass = nil, nil
		}
	}
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// measureExports writes the trained values and provenance back, exports the model three ways and measures each export
// with onnxruntime on the test split.
func (b *bench) measureExports(m *onnximport.Model, res *xreg.TrainResult, seed int64, r *Run) error {
	trained := m.Clone()
	if err := xreg.WriteResult(trained, res); err != nil {
		return err
	}
	r.ExportK = 4
	var detData []byte
	var detTest [][]float64
	for _, v := range []struct {
		opt export.Options
		dst **calib.Metrics
	}{
		{export.Options{}, &r.ExportDet},
		{export.Options{Calibration: b.reg}, &r.ExportTemp},
		{export.Options{MC: r.ExportK, Seed: seed}, &r.ExportMC},
	} {
		em := trained.Clone()
		rep, err := export.Apply(em, v.opt)
		if err != nil {
			return err
		}
		data, err := em.Marshal()
		if err != nil {
			return err
		}
		ev, err := predict.Evaluate(data, "export", b.test, "")
		if err != nil {
			return err
		}
		if *v.dst, err = calib.Compute(ev.Probabilities, b.test.Y, 15); err != nil {
			return err
		}
		switch rep.Method {
		case export.Deterministic:
			detData, detTest = data, ev.Probabilities
		case export.Temperature:
			r.ExportTemperature = rep.Temperature
		case export.MC: // temperature on the frozen ensemble, fitted on its regularization-split output
			reg, err := predict.Evaluate(data, "export", b.reg, "")
			if err != nil {
				return err
			}
			if r.ExportMCTemp, r.ExportMCTemperature, err = b.tempered(reg.Probabilities, ev.Probabilities); err != nil {
				return err
			}
		}
	}
	// Fresh Monte-Carlo evaluation of the trained injected model in onnxruntime.
	data, err := trained.Marshal()
	if err != nil {
		return err
	}
	r.FreshK = b.testMC
	test, err := predict.EvaluateMC(data, "trained", b.test, r.FreshK, seed)
	if err != nil {
		return err
	}
	if r.FreshMC, err = calib.Compute(test.Probabilities, b.test.Y, 15); err != nil {
		return err
	}
	reg, err := predict.EvaluateMC(data, "trained", b.reg, r.FreshK, seed+1000)
	if err != nil {
		return err
	}
	rm, err := calib.Compute(reg.Probabilities, b.reg.Y, 15)
	if err != nil {
		return err
	}
	r.RegFreshMCNLL = rm.NLL
	if r.FreshMCTemp, r.FreshTemperature, err = b.tempered(reg.Probabilities, test.Probabilities); err != nil {
		return err
	}
	// The deterministic export's temperature distilled from the fresh-MC average on the
	// regularization split.
	detReg, err := predict.Evaluate(detData, "export", b.reg, "")
	if err != nil {
		return err
	}
	if r.DistilledTemperature, err = calib.FitTemperatureSoft(logOf(detReg.Probabilities), reg.Probabilities); err != nil {
		return err
	}
	scaled := logOf(detTest)
	for _, row := range scaled {
		for j := range row {
			row[j] /= r.DistilledTemperature
		}
	}
	p, err := calib.Softmax(scaled)
	if err != nil {
		return err
	}
	r.ExportDistilled, err = calib.Compute(p, b.test.Y, 15)
	return err
}

// tempered fits a temperature T on the regularization split's probabilities (their logarithms
// taken as logits) and returns the test metrics of softmax(log p / T) and T.
func (b *bench) tempered(reg, test [][]float64) (*calib.Metrics, float64, error) {
	t, err := calib.FitTemperature(logOf(reg), b.reg.Y)
	if err != nil {
		return nil, 0, err
	}
	scaled := logOf(test)
	for _, row := range scaled {
		for j := range row {
			row[j] /= t
		}
	}
	p, err := calib.Softmax(scaled)
	if err != nil {
		return nil, 0, err
	}
	m, err := calib.Compute(p, b.test.Y, 15)
	return m, t, err
}

func logOf(p [][]float64) [][]float64 {
	out := make([][]float64, len(p))
	for i, row := range p {
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = math.Log(math.Max(v, 1e-30))
		}
	}
	return out
}

// growing trains the first half of the epochs on the first 200 training images, then resumes on
// all 1000 (the protocol's growing-data run).
func (b *bench) growing(m *onnximport.Model, cfg xreg.TrainConfig) (*xreg.TrainResult, error) {
	dir, err := os.MkdirTemp("", "xreg-growing-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	total := cfg.Epochs
	cfg.Checkpoint = filepath.Join(dir, "run.ckpt")
	cfg.Epochs = total / 2
	first, err := xreg.Train(m, b.small, b.reg, cfg)
	if err != nil {
		return nil, err
	}
	cfg.Epochs, cfg.Resume = total, true
	second, err := xreg.Train(m, b.train, b.reg, cfg)
	if err != nil {
		return nil, err
	}
	second.History = append(first.History, second.History...)
	second.ThetaSeconds += first.ThetaSeconds
	second.RegSeconds += first.RegSeconds
	return second, nil
}
