package xreg

import (
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// diverged builds the error for a non-finite training loss or state (what: "loss NaN", or
// "params/x holds +Inf"). It tells the two causes apart: non-finite from the first step of the
// run means the model or the data is bad, and names the tensor holding NaN or Inf when one does;
// non-finite later means the optimisation blew up. It names the checkpoint only when the file
// exists.
// step is the step that met it (1-based), updates how many θ updates this run made before it.
func (t *trainer) diverged(step, updates int, what string, batch []float32) error {
	ck := "no checkpoint was written"
	if t.cfg.Checkpoint != "" {
		if _, err := os.Stat(t.cfg.Checkpoint); err == nil {
			ck = "the last good checkpoint is " + t.cfg.Checkpoint
		}
	}
	if name, v, ok := nonFiniteInitializer(t.model); ok {
		return fmt.Errorf("xreg: train: %w at step %d (%s): the model is bad, non-finite from the first step: initializer %q holds %v; %s",
			ErrDiverged, step, what, name, v, ck)
	}
	if updates > 0 {
		return fmt.Errorf("xreg: train: %w at step %d (%s): it became non-finite after %d finite steps of this run; lower the learning rate or clip gradients; %s",
			ErrDiverged, step, what, updates, ck)
	}
	cause := "no weight or input holds NaN or Inf: the model's outputs overflow on this data (check the input scale)"
	if i, ok := firstNonFinite(batch); ok {
		cause = fmt.Sprintf("the data is bad: the first training batch holds %v at element %d", batch[i], i)
	}
	return fmt.Errorf("xreg: train: %w: the loss is non-finite from the first step of the run (step %d, %s); %s; %s",
		ErrDiverged, step, what, cause, ck)
}

// nonFiniteInitializer returns the first initializer (by name) holding NaN or Inf.
func nonFiniteInitializer(m *onnximport.Model) (string, float32, bool) {
	names := make([]string, 0, len(m.Graph.Initializers))
	for name := range m.Graph.Initializers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := m.Graph.Initializers[name]
		if !t.DType.IsFloat() {
			continue
		}
		if i, ok := firstNonFinite(t.Float); ok {
			return name, t.Float[i], true
		}
	}
	return "", 0, false
}

func firstNonFinite(x []float32) (int, bool) {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i, true
		}
	}
	return 0, false
}
