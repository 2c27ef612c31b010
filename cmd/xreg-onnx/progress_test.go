package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// TestProgress drives the progress display with a fake clock: a resumed run says where it
// resumed, a terminal gets a status line rewritten in place with loss, σ and an ETA extrapolated
// from this process's steps, other writers get plain lines (at most one per plainEvery within an
// epoch), and every epoch line ends with the ETA or "done".
func TestProgress(t *testing.T) {
	sigma := map[string]float64{"xreg.noise.bn1.BatchNormalization.log_sigma": 0.148, "xreg.noise.bn2.BatchNormalization.log_sigma": 0.118}
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		p := newProgress(&out, 4, "m.ckpt")
		p.tty = tty
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		p.now = func() time.Time { return now }
		// Resumed at step 10 of 40: the ETA counts only the steps this process takes.
		if err := p.start(xreg.Progress{Step: 10, Total: 40, Epoch: 1}); err != nil {
			t.Fatal(err)
		}
		_ = p.regUpdate(xreg.RegUpdate{Sigma: sigma})
		for s := 11; s <= 20; s++ {
			now = now.Add(20 * time.Second) // 20 s a step: 20 steps left after step 20 → 6m40s
			_ = p.step(xreg.Progress{Step: s, Total: 40, Epoch: 1, Loss: 0.5})
		}
		_ = p.epoch(&xreg.EpochStats{Epoch: 2, Step: 20, TrainLoss: 0.5, Sigma: sigma, Seconds: 200})
		_ = p.epoch(&xreg.EpochStats{Epoch: 4, Step: 40})
		p.finish()
		got := out.String()
		wantIn := []string{
			"resumed from m.ckpt at step 10 of 40 (epoch 2 of 4)\n",
			"epoch 2/4  step 20/40  loss 0.5000  σ bn1 0.148 bn2 0.118  ETA 6m40s",
			"epoch   2/4  step     20  train loss 0.5000",
			"σ bn1 0.148 bn2 0.118  (200.0s, ETA 6m40s)\n",
			"σ -  (0.0s, done)\n",
		}
		for _, w := range wantIn {
			if !strings.Contains(got, w) {
				t.Errorf("tty=%v: output lacks %q:\n%q", tty, w, got)
			}
		}
		lines := strings.Count(got, "ETA 6m40s")
		if tty {
			if !strings.Contains(got, "\r\033[Kepoch 2/4  step 20/40") || !strings.Contains(got, "\r\033[Kepoch   2/4") {
				t.Errorf("terminal: the status line is not rewritten and cleared in place:\n%q", got)
			}
		} else {
			// The step line at step 20 and the epoch line carry the last ETA.
			if strings.Contains(got, "\r") || lines != 2 {
				t.Errorf("plain output: want plain lines only, %d with the final ETA:\n%s", lines, got)
			}
			// Steps 20 s apart and a line at most every 30 s: every second step (12, 14, … 20).
			if n := strings.Count(got, "loss 0.5000  σ"); n != 5 {
				t.Errorf("plain output: %d step lines over 200 s, want 5:\n%s", n, got)
			}
		}
	}
	for d, want := range map[time.Duration]string{45 * time.Second: "45s", 185 * time.Second: "3m05s", 3720 * time.Second: "1h02m"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
