package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// speedRecord is what -speed prints last: one JSON line read by scripts/bench_speed.py (a first,
// partial line with setup_done_at and phases comes when the first step begins).
type speedRecord struct {
	StepS       float64 `json:"step_s"`        // median θ step after the first
	CPUStepS    float64 `json:"cpu_step_s"`    // median CPU time (user + system, all threads) of those steps
	PhiS        float64 `json:"phi_s"`         // one φ update (K noisy passes + backward + step)
	PhiCPUS     float64 `json:"phi_cpu_s"`     // its CPU time
	FirstStepAt float64 `json:"first_step_at"` // Unix time at the end of the first θ step
	// SetupDoneAt is the Unix time at which the first θ step begins: the model loaded, injected,
	// its nets built and compiled (xreg.Train's OnStart); SetupS is the same instant in seconds
	// since the process started, and Phases splits it (load, inject, data, train setup).
	SetupDoneAt float64            `json:"setup_done_at"`
	SetupS      float64            `json:"setup_s"`
	Phases      map[string]float64 `json:"phases"`
	PeakRSSMB   float64            `json:"peak_rss_mb"` // VmHWM
	Steps       int                `json:"steps"`
	PhiCold     bool               `json:"phi_cold"` // PhiS includes the first φ update's warm-up
}

// runSpeed times `steps` training steps of the model at path (noise injected after every
// normalization node, as `xreg-onnx inject` does) on random data, with the trainer of
// `xreg-onnx train`: θ steps at the given batch, and a φ update (K = 4) every second step.
// A non-empty cpuprofile receives a CPU profile of the training (pprof format). With setupOnly it
// stops where the first step would begin and reports the start-up alone (steps unused). regBN is
// TrainConfig.RegBatchNorm. epochEval runs the per-epoch evaluation
// after the last step, as a real run does, on a regularization set of max(batch, 256) examples.
func runSpeed(path string, batch, steps, threads int, cpuprofile, memprofile, regBN string, setupOnly, epochEval bool) error {
	if threads > 0 {
		runtime.GOMAXPROCS(threads)
	}
	if steps < 3 && !setupOnly {
		return fmt.Errorf("-steps %d: want at least 3 (the first, a θ + φ step, a θ step)", steps)
	}
	if setupOnly {
		steps = 1
	}
	phases := map[string]float64{}
	lap := time.Now()
	phase := func(name string) {
		now := time.Now()
		phases[name] = now.Sub(lap).Seconds()
		lap = now
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	m, err := onnximport.Load(path)
	if err != nil {
		return err
	}
	phase("load")
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		return err
	}
	phase("inject")
	if len(m.Graph.Inputs) != 1 {
		return fmt.Errorf("%s: want one input, have %d", path, len(m.Graph.Inputs))
	}
	shape := m.Graph.Inputs[0].Shape[1:]
	regN := batch
	if epochEval {
		regN = max(batch, 256) // a real regularization set holds more than one evaluation batch
	}
	train, reg := dataset.Random(steps*batch, shape, 1), dataset.Random(regN, shape, 2)
	phase("data")
	const regEvery = 2
	var marks []time.Time
	var cpu []float64
	var setupDone time.Time
	_, err = xreg.Train(m, train, reg, xreg.TrainConfig{
		Epochs: 1, BatchSize: batch, RegEvery: regEvery, NoEpochEval: !epochEval, RegBatchNorm: regBN,
		Hooks: []xreg.Hooks{{Name: "marks",
			OnStart: func(xreg.Progress) error {
				phase("train setup")
				setupDone = time.Now()
				if setupOnly {
					return errSetupOnly
				}
				// A first, partial line: what a process killed during its steps still tells.
				return json.NewEncoder(os.Stdout).Encode(map[string]any{"partial": true, "setup_done_at": unixSeconds(setupDone), "phases": phases})
			},
			OnStep: func(xreg.Progress) error {
				marks, cpu = append(marks, time.Now()), append(cpu, cpuSeconds())
				if memprofile != "" && len(marks) == steps {
					return writeHeapProfile(memprofile)
				}
				return nil
			}}},
	})
	if setupOnly && errors.Is(err, errSetupOnly) {
		return json.NewEncoder(os.Stdout).Encode(speedRecord{
			SetupDoneAt: unixSeconds(setupDone), SetupS: sinceProcessStart(setupDone), Phases: phases, PeakRSSMB: peakRSSMB(),
		})
	}
	if err != nil {
		return err
	}
	// Step k (1-based) ends at marks[k-1]; even steps include a φ update. The first θ step and
	// the first φ update (step 2) are warm-ups (output buffers, oneDNN primitives): the φ time
	// comes from a later one when there is one (steps ≥ 4), else from step 2 (PhiCold).
	var theta, thetaCPU, thetaPhi, thetaPhiCPU []float64
	for k := 2; k <= len(marks); k++ {
		d := marks[k-1].Sub(marks[k-2]).Seconds()
		switch {
		case k%regEvery != 0:
			theta = append(theta, d)
			thetaCPU = append(thetaCPU, cpu[k-1]-cpu[k-2])
		case k > 2 || len(marks) < 4:
			thetaPhi = append(thetaPhi, d)
			thetaPhiCPU = append(thetaPhiCPU, cpu[k-1]-cpu[k-2])
		}
	}
	rec := speedRecord{
		StepS:       median(theta),
		CPUStepS:    median(thetaCPU),
		PhiCPUS:     max(0, median(thetaPhiCPU)-median(thetaCPU)),
		PhiS:        max(0, median(thetaPhi)-median(theta)),
		FirstStepAt: unixSeconds(marks[0]),
		SetupDoneAt: unixSeconds(setupDone),
		SetupS:      sinceProcessStart(setupDone),
		Phases:      phases,
		PeakRSSMB:   peakRSSMB(),
		Steps:       len(marks),
		PhiCold:     len(marks) < 4,
	}
	return json.NewEncoder(os.Stdout).Encode(rec)
}

// writeHeapProfile writes the memory in use on the Go heap, after a collection, as a pprof heap
// profile (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errSetupOnly stops xreg.Train where the first step would begin (-setup-only).
var errSetupOnly = errors.New("setup only")

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// sinceProcessStart returns the seconds from the process's start (its start time in /proc, in
// clock ticks of 1/100 s after boot) to t; where /proc is missing, from the start of main.
func sinceProcessStart(t time.Time) float64 {
	if start, ok := processStart(); ok {
		return t.Sub(start).Seconds()
	}
	return t.Sub(mainStart).Seconds()
}

// mainStart is when the program's variables were initialised, just before main.
var mainStart = time.Now()

// processStart reads the process's start time: field 22 of /proc/self/stat (clock ticks after
// boot, USER_HZ = 100 on Linux) against the time since boot in /proc/uptime (1/100 s).
func processStart() (time.Time, bool) {
	now := time.Now()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return time.Time{}, false
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, false
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	u := strings.Fields(string(up))
	if len(f) < 20 || len(u) < 1 {
		return time.Time{}, false
	}
	ticks, err1 := strconv.ParseInt(f[19], 10, 64)
	uptime, err2 := strconv.ParseFloat(u[0], 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	age := time.Duration((uptime - float64(ticks)/100) * float64(time.Second))
	return now.Add(-age), true
}

// cpuSeconds returns the process's CPU time so far (user + system, all threads, cgo included).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// median returns the median of xs (sorted in place).
func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// peakRSSMB reads the process's peak resident memory (VmHWM) in MB; 0 where /proc is missing.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb float64
			fmt.Sscan(f[1], &kb)
			return kb / 1024
		}
	}
	return 0
}

// kernelsLabel says which kernels this binary has.
func kernelsLabel() string { return kernels.Backend() }
