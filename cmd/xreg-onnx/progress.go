package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// plainEvery is how often a run that is not on a terminal prints a progress line between epochs.
const plainEvery = 30 * time.Second

// progress reports a training run: on a terminal one status line rewritten in place (epoch, step,
// loss, σ, ETA) and a line per epoch; otherwise plain lines only, one per epoch and one at most
// every plainEvery within an epoch. A resumed run first says where it resumed.
type progress struct {
	w      io.Writer
	tty    bool
	epochs int
	ckpt   string
	// begin and beginStep are when and at which step this process started training (the ETA
	// extrapolates from them), last when a line was last written.
	begin     time.Time
	beginStep int
	last      time.Time
	status    bool // a status line is on screen
	sigma     map[string]float64
	mag       map[string]float64
	total     int
	now       func() time.Time
}

func newProgress(w io.Writer, epochs int, ckpt string) *progress {
	p := &progress{w: w, epochs: epochs, ckpt: ckpt, now: time.Now}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// hooks returns the trainer hooks that feed p.
func (p *progress) hooks() xreg.Hooks {
	return xreg.Hooks{Name: "progress", OnStart: p.start, OnStep: p.step, OnRegUpdate: p.regUpdate, OnEpoch: p.epoch}
}

func (p *progress) start(pr xreg.Progress) error {
	p.begin, p.beginStep, p.last, p.total = p.now(), pr.Step, p.now(), pr.Total
	if pr.Step > 0 {
		from := "the checkpoint"
		if p.ckpt != "" {
			from = p.ckpt
		}
		fmt.Fprintf(p.w, "resumed from %s at step %d of %d (epoch %d of %d)\n", from, pr.Step, pr.Total, pr.Epoch+1, p.epochs)
	}
	return nil
}

func (p *progress) regUpdate(u xreg.RegUpdate) error {
	p.sigma, p.mag = u.Sigma, u.Magnitude
	return nil
}

func (p *progress) step(pr xreg.Progress) error {
	p.total = pr.Total
	now := p.now()
	line := fmt.Sprintf("epoch %d/%d  step %d/%d  loss %.4f  σ %s  ETA %s",
		pr.Epoch+1, p.epochs, pr.Step, pr.Total, pr.Loss, formatSigma(p.sigma, p.mag), p.eta(pr.Step, now))
	switch {
	case p.tty && now.Sub(p.last) >= 100*time.Millisecond:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.status, p.last = true, now
	case !p.tty && now.Sub(p.last) >= plainEvery:
		fmt.Fprintln(p.w, line)
		p.last = now
	}
	return nil
}

func (p *progress) epoch(st *xreg.EpochStats) error {
	p.clear()
	eta := "done"
	if st.Step < p.total {
		eta = "ETA " + p.eta(st.Step, p.now())
	}
	fmt.Fprintf(p.w, "epoch %3d/%d  step %6d  train loss %.4f acc %.3f  reg nll %.4f acc %.3f  σ %s  (%.1fs, %s)\n",
		st.Epoch, p.epochs, st.Step, st.TrainLoss, st.TrainAcc, st.RegNLL, st.RegAcc, formatSigma(st.Sigma, st.Magnitude), st.Seconds, eta)
	p.last = p.now()
	return nil
}

// finish removes the status line.
func (p *progress) finish() { p.clear() }

func (p *progress) clear() {
	if p.status {
		fmt.Fprint(p.w, "\r\033[K")
		p.status = false
	}
}

// eta extrapolates the time left from the steps this process has taken.
func (p *progress) eta(step int, now time.Time) string {
	done := step - p.beginStep
	if done <= 0 || p.total <= step {
		return "–"
	}
	left := time.Duration(float64(now.Sub(p.begin)) / float64(done) * float64(p.total-step))
	return formatDuration(left)
}

// formatDuration prints 45s, 3m05s or 1h02m.
func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// maxSigmaListed is the number of noise points up to which the progress lines list σ per point;
// beyond it (a real network has dozens) they give the mean and range.
const maxSigmaListed = 6

// formatSigma prints σ per noise point and each augmentation magnitude, with short point names:
// "bn1 0.148 bn2 0.118"; with more than maxSigmaListed points, "mean 0.134 in [0.129, 0.142] over
// 52 points" for σ; "-" when there is none (plain training).
func formatSigma(sigma, mag map[string]float64) string {
	if len(sigma) == 0 && len(mag) == 0 {
		return "-"
	}
	var parts []string
	if len(sigma) > maxSigmaListed {
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for _, v := range sigma {
			lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
		}
		parts = append(parts, fmt.Sprintf("mean %.3f in [%.3f, %.3f] over %d points", sum/float64(len(sigma)), lo, hi, len(sigma)))
		sigma = nil
	}
	for _, m := range []map[string]float64{sigma, mag} {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		short := calib.ShortNames(names)
		for _, k := range names {
			parts = append(parts, short[k]+" "+strconv.FormatFloat(m[k], 'f', 3, 64))
		}
	}
	return strings.Join(parts, " ")
}
