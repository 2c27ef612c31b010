package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/urfave/cli/v2"
)

// Every numeric flag has a range, checked before a command runs: a value outside it (a 0 or a
// negative that means nothing, a size that would exhaust memory, NaN or ±Inf) is refused with
// one line naming the flag, never replaced by a default. A 0 that means something says so in the
// flag's usage ("0: all"), and is in the range. newApp appends each range to the flag's usage,
// so --help shows it.

// flagRange is the accepted range of a numeric flag: [min, max], either end excluded when
// openMin or openMax. onlySet checks the flag only when it is given (its default means "not given").
type flagRange struct {
	min, max         float64
	openMin, openMax bool
	onlySet          bool
}

func (r flagRange) String() string {
	lo := "["
	if r.openMin {
		lo = "("
	}
	hi := "]"
	if r.openMax {
		hi = ")"
	}
	return lo + formatBound(r.min) + ", " + formatBound(r.max) + hi
}

func formatBound(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func (r flagRange) contains(v float64) bool {
	if r.openMin && v <= r.min || !r.openMin && v < r.min {
		return false
	}
	return v < r.max || v == r.max && !r.openMax
}

// Upper bounds shared by several commands.
const (
	maxMC        = 256     // Monte-Carlo passes K: the batch is replicated K times
	maxThreads   = 256     // onnxruntime intra-op threads
	maxBins      = 1000    // confidence bins of ECE and the reliability diagrams
	maxBatch     = 1 << 16 // examples per batch
	maxExamples  = 1 << 31 // --limit style counts
	maxEpochs    = 1 << 20
	maxSteps     = 1 << 30
	maxSigma     = 100 // an initial σ of noise
	maxLR        = 100 // learning rates
	maxTopK      = 1 << 16
	maxBreaks    = 10000
	maxResetHead = 1 << 20 // classes
)

var (
	count     = flagRange{min: 0, max: maxExamples} // 0: all
	positive  = func(max float64) flagRange { return flagRange{min: 1, max: max} }
	learnRate = flagRange{min: 0, max: maxLR, openMin: true}            // (0, maxLR]
	fraction  = flagRange{min: 0, max: 1, openMin: true, openMax: true} // (0, 1)
	halfOpen  = flagRange{min: 0, max: 1, openMax: true}                // [0, 1)
	nonNeg    = func(max float64) flagRange { return flagRange{min: 0, max: max} }
	sigmaSet  = flagRange{min: 0, max: maxSigma, openMin: true, onlySet: true}
	zeroOrMC  = nonNeg(maxMC)
	threads   = positive(maxThreads)
	bins      = positive(maxBins)
	seedRange = flagRange{min: math.MinInt64, max: math.MaxInt64}
)

// flagRanges lists the range of every numeric flag, by command.
var flagRanges = map[string]map[string]flagRange{
	"train": {"resize": nonNeg(maxImageSide), "crop": nonNeg(maxImageSide),
		"limit": count, "reg-limit": count, "reg-fraction": fraction,
		"epochs": positive(maxEpochs), "batch-size": positive(maxBatch), "lr": learnRate,
		"beta1": halfOpen, "beta2": halfOpen, "weight-decay": nonNeg(1), "clip-norm": nonNeg(1e9),
		"label-smoothing": halfOpen, "reg-lr": learnRate, "reg-every": positive(maxSteps),
		"mc": positive(maxMC), "reg-batch": nonNeg(maxBatch), "sigma": sigmaSet,
		"reset-head": nonNeg(maxResetHead), "checkpoint-every": nonNeg(maxSteps), "seed": seedRange,
	},
	"finetune": {"resize": nonNeg(maxImageSide), "crop": nonNeg(maxImageSide),
		"limit": count, "reg-limit": count, "test-limit": count, "reg-fraction": fraction,
		"epochs": positive(maxEpochs), "batch-size": positive(maxBatch), "lr": learnRate,
		"beta1": halfOpen, "beta2": halfOpen, "weight-decay": nonNeg(1), "clip-norm": nonNeg(1e9),
		"label-smoothing": halfOpen, "reg-lr": learnRate, "reg-every": positive(maxSteps),
		"mc": positive(maxMC), "reg-batch": nonNeg(maxBatch), "sigma0": flagRange{min: 0, max: maxSigma, openMin: true},
		"export-mc": flagRange{min: -1, max: maxMC}, "tolerance": nonNeg(10), "bins": bins, "seed": seedRange,
	},
	"export":  {"reg-limit": count, "limit": count, "mc": zeroOrMC, "bins": bins, "seed": seedRange},
	"report":  {"resize": nonNeg(maxImageSide), "crop": nonNeg(maxImageSide), "limit": count, "bins": bins, "mc": zeroOrMC, "seed": seedRange},
	"predict": {"resize": nonNeg(maxImageSide), "crop": nonNeg(maxImageSide), "top": positive(maxTopK), "threads": threads},
	"serve": {"resize": nonNeg(maxImageSide), "crop": nonNeg(maxImageSide), "threads": threads,
		"max-concurrent": positive(maxThreads), "queue": nonNeg(1 << 16)},
	"inject": {"sigma0": flagRange{min: 0, max: maxSigma, openMin: true}},
	"linear": {"reg-fraction": fraction, "steps": positive(maxSteps), "warmup": nonNeg(maxSteps),
		"reg-every": positive(maxSteps), "reg-lr": learnRate},
	"spline": {"reg-fraction": fraction, "steps": positive(maxSteps), "warmup": nonNeg(maxSteps),
		"reg-every": positive(maxSteps), "reg-lr": learnRate, "breaks": flagRange{min: 2, max: maxBreaks}},
}

var documented = map[*cli.Command]bool{}

// checkFlagRanges refuses a numeric flag outside its range, and any NaN or infinite float flag.
func checkFlagRanges(c *cli.Context, cmd string) error {
	ranges := flagRanges[cmd]
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		var v float64
		switch f.(type) {
		case *cli.Float64Flag:
			v = c.Float64(name)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s: --%s %v: want a finite number", cmd, name, v)
			}
		case *cli.IntFlag:
			v = float64(c.Int(name))
		case *cli.Int64Flag:
			v = float64(c.Int64(name))
		case *cli.Uint64Flag:
			v = float64(c.Uint64(name))
		default:
			continue
		}
		r, ok := ranges[name]
		if !ok || (r.onlySet && !c.IsSet(name)) {
			continue
		}
		if !r.contains(v) {
			return fmt.Errorf("%s: --%s %s: want a value in %v", cmd, name, formatBound(v), r)
		}
	}
	return nil
}

// documentRanges appends each flag's range to its usage, so --help shows it, and makes the
// command check its flags before it runs.
func documentRanges(cmd *cli.Command) {
	if documented[cmd] {
		return
	}
	documented[cmd] = true
	ranges := flagRanges[cmd.Name]
	for _, f := range cmd.Flags {
		r, ok := ranges[f.Names()[0]]
		if !ok || r == seedRange {
			continue
		}
		note := " (range " + r.String() + ")"
		switch f := f.(type) {
		case *cli.Float64Flag:
			f.Usage += note
		case *cli.IntFlag:
			f.Usage += note
		case *cli.Int64Flag:
			f.Usage += note
		case *cli.Uint64Flag:
			f.Usage += note
		}
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if err := checkFlagRanges(c, cmd.Name); err != nil {
			return err
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}
