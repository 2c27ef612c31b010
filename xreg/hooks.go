package xreg

import (
	"fmt"
	"time"

	"github.com/xreg-onnx/xreg-onnx/executor"
)

// Hooks attach side effects to the training loop, the way gomlx's train.Loop attaches OnStart,
// OnStep and OnEnd handlers. Every field is optional; an error from a hook stops training and Train
// returns it.
//
// Train's own side effects are hooks too, run in this order before TrainConfig.Hooks: the
// per-epoch evaluation on the regularization set (unless NoEpochEval; it fills
// EpochStats.RegNLL and RegAcc), the JSONL log (when Log is set). The checkpoint (when Checkpoint
// is set) runs after them all, so it records everything the others wrote.
type Hooks struct {
	// Name identifies the hook in errors.
	Name string
	// OnStart runs once before the first step (after a resume, at the restored step).
	OnStart func(Progress) error
	// OnStep runs after every θ step and the φ update that follows it, if any.
	OnStep func(Progress) error
	// OnRegUpdate runs after every φ update.
	OnRegUpdate func(RegUpdate) error
	// OnEpoch runs at every epoch end; hooks earlier in the order may have filled st in.
	OnEpoch func(st *EpochStats) error
	// OnEnd runs once after the last epoch, with the result.
	OnEnd func(*TrainResult) error
}

// Progress is where the loop is: Step θ steps done of Total, in epoch Epoch (0-based, the one
// running). Loss is the training loss of the step just taken (0 in OnStart).
type Progress struct {
	Step, Total, Epoch int
	Loss               float64
}

// RegUpdate describes one φ update; the JSONL log writes it as a line of kind "reg".
type RegUpdate struct {
	Kind   string  `json:"kind"` // "reg"
	Step   int     `json:"step"`
	Epoch  int     `json:"epoch"`
	RegNLL float64 `json:"reg_nll"`
	// Sigma is σ per noise reg (the mean over channels), Magnitude each augmentation magnitude.
	Sigma     map[string]float64 `json:"sigma,omitempty"`
	Magnitude map[string]float64 `json:"magnitude,omitempty"`
}

// buildHooks returns the loop's hooks in the order they run.
func (t *trainer) buildHooks() []Hooks {
	var hs []Hooks
	if !t.cfg.NoEpochEval {
		hs = append(hs, Hooks{Name: "evaluation", OnEpoch: t.evaluate})
	}
	if t.cfg.Log != nil {
		hs = append(hs, Hooks{Name: "log",
			OnRegUpdate: func(u RegUpdate) error { return t.writeLog(u) },
			OnEpoch:     func(st *EpochStats) error { return t.writeLog(st) },
		})
	}
	hs = append(hs, t.cfg.Hooks...)
	if t.cfg.Checkpoint != "" {
		hs = append(hs, Hooks{Name: "checkpoint",
			OnStep: func(p Progress) error {
				if t.cfg.CheckpointEvery > 0 && p.Step%t.cfg.CheckpointEvery == 0 {
					return t.checkpoint(t.epochTrainSize)
				}
				return nil
			},
			OnEpoch: func(st *EpochStats) error { return t.checkpoint(st.TrainSize) },
		})
	}
	return hs
}

// callHooks calls the hook pick selects on every hook in order and stops at the first error.
func callHooks[T any](hs []Hooks, pick func(Hooks) func(T) error, v T) error {
	for _, h := range hs {
		if f := pick(h); f != nil {
			if err := f(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// evaluate is the evaluation hook: the deterministic NLL and accuracy of the model on the whole
// regularization set, with the net built once (evaluation mode, sharing the trained values).
func (t *trainer) evaluate(st *EpochStats) error {
	start := time.Now()
	if t.evalNet == nil {
		net, err := executor.Build(t.model, executor.BuildOptions{Batch: min(t.cfg.EvalBatch, t.reg.Len()), Values: t.values, Weights: t.weights, Arena: t.arena})
		if err != nil {
			return fmt.Errorf("xreg: train: evaluation: %w", err)
		}
		t.evalNet = net
	}
	ps, err := predictNet(t.evalNet, t.reg, PredictOptions{})
	if err != nil {
		return err
	}
	st.RegNLL, st.RegAcc = nllAcc(ps, t.reg.Y)
	st.Seconds += time.Since(start).Seconds()
	return nil
}
