package main

// The summary half of xreg-bench: reading the per-run JSON results and rendering them as Markdown
// tables (mean ± std over seeds), the σ trajectories and the φ-settings sensitivity table. It
// never trains; summary_test.go checks it on hand-made runs.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// Run is the record of one training run and its evaluation.
type Run struct {
	Model, Method string
	Seed          int64
	Sigma         float64 // fixed σ for fixed/grid runs
	Sigma0        float64 `json:",omitempty"` // initial σ of learn runs when not inject's default
	RegBatchNorm  string  `json:",omitempty"`
	Mode          string  `json:",omitempty"` // injected noise mode when not additive
	// Placement is the noise placement of learn runs (inject.PostAffine or PreAffine; "" in runs
	// made before placements existed, which were post-affine).
	Placement string `json:",omitempty"`
	// Split names the data split ("protocol" or "unseen"); Reinit says θ was drawn from the seed
	// (PyTorch's default init) instead of taken from the fixture file.
	Split  string `json:",omitempty"`
	Reinit bool   `json:",omitempty"`
	// TestSize is the number of test images (10000 unless -test-limit cut it).
	TestSize     int `json:",omitempty"`
	Epochs       int
	Steps        int
	TrainSize    int
	RegEvery, MC int
	RegLR        float64
	// Test metrics of the deterministic prediction, and of MC-averaged prediction for learn runs.
	Test, TestMC *calib.Metrics `json:",omitempty"`
	// TestTemp is the temperature-scaled prediction (none runs), with T fitted on the regularization split.
	TestTemp    *calib.Metrics `json:",omitempty"`
	Temperature float64        `json:",omitempty"`
	// Exports (learn runs): the exported ONNX models served by onnxruntime on the test split —
	// deterministic, temperature folded (fitted on the regularization split) and the frozen
	// MC-ensemble of ExportMC draws.
	ExportDet, ExportTemp, ExportMC *calib.Metrics `json:",omitempty"`
	ExportK                         int            `json:",omitempty"`
	// RegMCNLL is the regularization-set NLL of the MC-averaged prediction (what φ minimises).
	RegMCNLL float64 `json:",omitempty"`
	// FreshMC is the trained injected model evaluated by onnxruntime with FreshK fresh noise draws
	// per example (predict.EvaluateMC); FreshMCTemp the same with a temperature fitted on the
	// regularization split's fresh-MC average (FreshTemperature); ExportMCTemp the frozen ensemble
	// with a temperature fitted the same way on its regularization-split output
	// (ExportMCTemperature). Temperatures on averaged probabilities scale their logarithms.
	FreshMC, FreshMCTemp, ExportMCTemp    *calib.Metrics `json:",omitempty"`
	FreshK                                int            `json:",omitempty"`
	FreshTemperature, ExportMCTemperature float64        `json:",omitempty"`
	ExportTemperature                     float64        `json:",omitempty"`
	RegFreshMCNLL                         float64        `json:",omitempty"`
	// ExportDistilled is the deterministic export with a temperature fitted, without labels, to
	// match the regularization split's fresh-MC average (calib.FitTemperatureSoft):
	// DistilledTemperature.
	ExportDistilled      *calib.Metrics `json:",omitempty"`
	DistilledTemperature float64        `json:",omitempty"`
	// TrainAcc is the deterministic accuracy on the training split.
	TrainAcc float64
	// RegNLL is the deterministic NLL on the regularization split (the grid's selection criterion).
	RegNLL float64
	// Sigma per noise point at the end (learned or fixed).
	FinalSigma map[string]float64
	// History holds the per-epoch statistics (σ trajectory).
	History []xreg.EpochStats `json:",omitempty"`
	// Provenance is the run's metadata as the library records it in the trained model.
	Provenance map[string]string `json:",omitempty"`
	// Seconds is the run's wall time; ThetaSeconds and RegSeconds split training time.
	Seconds, ThetaSeconds, RegSeconds float64
	ImagesPerSecond                   float64
	Machine, Date                     string
}

// readRun reads one run's JSON file.
func readRun(path string) (Run, error) {
	var r Run
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// writeSummary aggregates every run in dir into Markdown tables (mean ± std over seeds).
func writeSummary(w io.Writer, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	var runs []Run
	for _, f := range files {
		r, err := readRun(f)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	byModel := map[string][]Run{}
	for _, r := range runs {
		byModel[r.Model] = append(byModel[r.Model], r)
	}
	names := make([]string, 0, len(byModel))
	for k := range byModel {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		summarize(w, name, byModel[name])
	}
	return nil
}

type agg struct{ v []float64 }

func (a *agg) add(x float64) { a.v = append(a.v, x) }
func (a agg) String() string {
	if len(a.v) == 0 {
		return "–"
	}
	var s, ss float64
	for _, x := range a.v {
		s += x
	}
	mean := s / float64(len(a.v))
	for _, x := range a.v {
		ss += (x - mean) * (x - mean)
	}
	std := 0.0
	if len(a.v) > 1 {
		std = math.Sqrt(ss / float64(len(a.v)-1))
	}
	return fmt.Sprintf("%.4f ± %.4f", mean, std)
}

type row struct {
	acc, nll, brier, ece, mce, trainAcc, gap, secs agg
	seeds                                          int
}

func (r *row) add(m *calib.Metrics, trainAcc, secs float64) {
	r.acc.add(m.Accuracy)
	r.nll.add(m.NLL)
	r.brier.add(m.Brier)
	r.ece.add(m.ECE)
	r.mce.add(m.MCE)
	r.trainAcc.add(trainAcc)
	r.gap.add(trainAcc - m.Accuracy)
	r.secs.add(secs)
	r.seeds++
}

func summarize(w io.Writer, name string, runs []Run) {
	bySeed := map[int64][]Run{}
	for _, r := range runs {
		bySeed[r.Seed] = append(bySeed[r.Seed], r)
	}
	rows := map[string]*row{}
	order := []string{"1 no regularization (σ = 0)", "2 fixed σ = 1", "4 grid search over fixed σ (7 runs, chosen on reg NLL)",
		"5 temperature scaling of (1)"}
	placements := map[string]bool{}
	for _, r := range runs {
		if r.Method == "learn" {
			placements[placementOf(r)] = true
		}
	}
	for _, p := range inject.Placements() {
		if placements[p] {
			order = append(order, learnRows(p)...)
		}
	}
	order = append(order, "growing data 200 → 1000, deterministic", "growing data 200 → 1000, MC-averaged")
	get := func(k string) *row {
		if rows[k] == nil {
			rows[k] = &row{}
		}
		return rows[k]
	}
	var date, machine, split string
	reinit, testSize := false, 10000
	var overhead agg
	var ips agg
	sigmas := map[string]*agg{}
	var chosen []string
	for seed, rs := range bySeed {
		var best *Run
		gridSecs, gridRuns := 0.0, 0
		for i := range rs {
			r := &rs[i]
			date, machine, split, reinit = r.Date, r.Machine, r.Split, r.Reinit
			if r.TestSize > 0 {
				testSize = r.TestSize
			}
			switch r.Method {
			case "none":
				get(order[0]).add(r.Test, r.TrainAcc, r.Seconds)
				ips.add(r.ImagesPerSecond)
				if r.TestTemp != nil {
					get(order[3]).add(r.TestTemp, r.TrainAcc, r.Seconds)
				}
			case "fixed":
				get(order[1]).add(r.Test, r.TrainAcc, r.Seconds)
			case "learn":
				names := learnRows(placementOf(*r))
				for i, e := range []*calib.Metrics{r.Test, r.TestMC, r.FreshMC, r.FreshMCTemp, r.ExportDet, r.ExportTemp, r.ExportMC, r.ExportMCTemp, r.ExportDistilled} {
					if e != nil {
						get(names[i]).add(e, r.TrainAcc, r.Seconds)
					}
				}
				if r.ThetaSeconds > 0 {
					overhead.add(r.RegSeconds / r.ThetaSeconds)
				}
				for k, v := range r.FinalSigma {
					k = placementOf(*r) + " " + k
					if sigmas[k] == nil {
						sigmas[k] = &agg{}
					}
					sigmas[k].add(v)
				}
			case "growing":
				get(order[len(order)-2]).add(r.Test, r.TrainAcc, r.Seconds)
				if r.TestMC != nil {
					get(order[len(order)-1]).add(r.TestMC, r.TrainAcc, r.Seconds)
				}
			}
			if r.Method == "none" || r.Method == "fixed" || r.Method == "grid" {
				gridSecs += r.Seconds
				gridRuns++
				if best == nil || r.RegNLL < best.RegNLL {
					best = r
				}
			}
		}
		if best != nil && gridRuns > 1 { // a grid of one run (method 1 alone) is no grid search
			get(order[2]).add(best.Test, best.TrainAcc, gridSecs)
			chosen = append(chosen, fmt.Sprintf("seed %d: σ = %g", seed, best.Sigma))
		}
	}
	sort.Strings(chosen)
	if split == "" {
		split = "protocol"
	}
	init := "θ from the fixture file"
	if reinit {
		init = "θ drawn from each seed"
	}
	fmt.Fprintf(w, "### %s (Fashion-MNIST, %s split: train 1000 / reg 1000 / test %d; %s; %s; %s)\n\n", name, split, testSize, init, machine, date)
	fmt.Fprintln(w, "| method | seeds | test acc | test NLL | Brier | ECE (15 bins) | MCE | train acc | gap train − test | wall s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range order {
		r := rows[k]
		if r == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %v | %v | %v | %v | %v | %v | %v | %v |\n", k, r.seeds, r.acc, r.nll, r.brier, r.ece, r.mce, r.trainAcc, r.gap, r.secs)
	}
	fmt.Fprintln(w)
	if len(chosen) > 0 {
		fmt.Fprintf(w, "Grid search choice (lowest regularization-set NLL): %s.\n\n", strings.Join(chosen, "; "))
	}
	if len(sigmas) > 0 {
		keys := make([]string, 0, len(sigmas))
		for k := range sigmas {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "Learned σ per placement and injection point at the end of training (method 3, mean ± std over seeds):")
		fmt.Fprintln(w)
		for _, k := range keys {
			fmt.Fprintf(w, "- `%s`: %v\n", k, *sigmas[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Cross-regularization overhead (φ-update time / θ-step time, same run): %v. Training throughput of method 1: %v images/s.\n\n", overhead, ips)
	for _, method := range []string{"learn", "growing"} {
		for _, r := range runs {
			if r.Method == method && r.Seed == 0 && len(r.History) > 0 {
				trajectory(w, r)
			}
		}
	}
}

// placementOf returns a run's noise placement (runs made before placements existed were
// post-affine).
func placementOf(r Run) string {
	if r.Placement == "" {
		return inject.PostAffine
	}
	return r.Placement
}

// learnRows names the summary rows of a learn run with noise placement p, in the order of the
// metrics Run holds for it: Test, TestMC, FreshMC, FreshMCTemp, ExportDet, ExportTemp, ExportMC,
// ExportMCTemp, ExportDistilled.
func learnRows(p string) []string {
	return []string{
		"3 cross-regularization (" + p + "), deterministic",
		"6 cross-regularization (" + p + "), MC-averaged prediction (trainer's executor, -test-mc draws)",
		"cross-regularization (" + p + "), fresh MC-8 in onnxruntime",
		"cross-regularization (" + p + "), fresh MC-8 + temperature (fitted on reg MC)",
		"export (" + p + "), deterministic, onnxruntime",
		"export (" + p + "), temperature folded, onnxruntime",
		"export (" + p + "), frozen MC-4 ensemble, onnxruntime",
		"export (" + p + "), frozen MC-4 + temperature (post hoc)",
		"export (" + p + "), temperature distilled from the reg-set fresh MC (no labels, post hoc)",
	}
}

// trajectory prints σ per injection point at ten evenly spaced epochs of one run.
func trajectory(w io.Writer, r Run) {
	title := map[string]string{"learn": "cross-regularization", "growing": "growing data (200 → 1000 training images at half time)"}[r.Method]
	var names []string
	for k := range r.History[0].Sigma {
		names = append(names, k)
	}
	sort.Strings(names)
	if r.Method == "learn" {
		title += " (" + placementOf(r) + ")"
	}
	fmt.Fprintf(w, "σ trajectory, %s, seed %d:\n\n| epoch | train size | train loss |", title, r.Seed)
	for _, n := range names {
		fmt.Fprintf(w, " σ %s |", shortPoint(n))
	}
	fmt.Fprint(w, "\n|---|---|---|")
	for range names {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	n := len(r.History)
	rows := []xreg.EpochStats{r.History[0]}
	for i := 1; i <= 10; i++ {
		if j := i*n/10 - 1; j > 0 && j != rowsLast(rows, r.History) {
			rows = append(rows, r.History[j])
		}
	}
	for _, h := range rows {
		fmt.Fprintf(w, "| %d | %d | %.4f |", h.Epoch, h.TrainSize, h.TrainLoss)
		for _, k := range names {
			fmt.Fprintf(w, " %.3f |", h.Sigma[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

// rowsLast returns the index in history of the last row picked so far.
func rowsLast(rows, history []xreg.EpochStats) int {
	last := rows[len(rows)-1].Epoch
	for i, h := range history {
		if h.Epoch == last {
			return i
		}
	}
	return -1
}

// shortPoint turns xreg.noise.<point>.sigma (or .log_sigma, the key of runs recorded before
// inject.SigmaKey) into <point>.
func shortPoint(name string) string {
	name = strings.TrimPrefix(name, "xreg.noise.")
	return strings.TrimSuffix(strings.TrimSuffix(name, ".log_sigma"), ".sigma")
}

// sensitivity prints one row per learn run found in dirs: its φ settings, the regularization-set
// NLL of the MC-averaged prediction (what φ minimises, the selection criterion), the
// deterministic one, the final σ and the overhead; test NLL is shown for information only.
func sensitivity(w io.Writer, dirs []string) error {
	fmt.Fprintln(w, "| model | seed | r | K | φ lr | σ0 | BN in reg passes | reg NLL, MC (criterion) | reg NLL, deterministic | final σ per point | overhead | test NLL det / MC |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*_learn_seed*.json"))
		if err != nil {
			return err
		}
		for _, f := range files {
			r, err := readRun(f)
			if err != nil {
				return err
			}
			var names []string
			for k := range r.FinalSigma {
				names = append(names, k)
			}
			sort.Strings(names)
			var sig []string
			for _, k := range names {
				sig = append(sig, fmt.Sprintf("%.3f", r.FinalSigma[k]))
			}
			s0 := r.Sigma0
			if s0 == 0 {
				s0 = inject.DefaultSigma0
			}
			mcTest := math.NaN()
			switch {
			case r.TestMC != nil:
				mcTest = r.TestMC.NLL
			case r.FreshMC != nil: // runs that measured the Monte-Carlo average in onnxruntime only
				mcTest = r.FreshMC.NLL
			}
			if r.RegMCNLL == 0 {
				r.RegMCNLL = r.RegFreshMCNLL
			}
			bn := r.RegBatchNorm
			if bn == "" {
				bn = "eval"
			}
			if r.Model == "mlp-ln" {
				bn = "–"
			}
			if r.Mode == "multiplicative" {
				bn += ", multiplicative noise"
			}
			fmt.Fprintf(w, "| %s | %d | %d | %d | %g | %.3f | %s | %.4f | %.4f | %s | %.3f | %.4f / %.4f |\n", r.Model, r.Seed, r.RegEvery, r.MC, r.RegLR, s0, bn,
				r.RegMCNLL, r.RegNLL, strings.Join(sig, " "), r.RegSeconds/r.ThetaSeconds, r.Test.NLL, mcTest)
		}
	}
	return nil
}
