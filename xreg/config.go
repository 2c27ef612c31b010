package xreg

import (
	"fmt"
	"io"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/optim"
)

// RegMode says what the trainer does with the regs (φ) of an injected model.
type RegMode string

// The reg modes.
const (
	// RegsLearn is cross-regularization: φ follows the gradient of the Monte-Carlo averaged NLL on
	// the regularization set, every RegEvery steps.
	RegsLearn RegMode = "learn"
	// RegsFixed keeps φ at its initial value (noise and augmentation on, never tuned).
	RegsFixed RegMode = "fixed"
	// RegsOff switches noise and augmentation off: plain training of θ.
	RegsOff RegMode = "off"
)

// TrainConfig configures Train. Zero fields take DefaultConfig's values, given in brackets.
type TrainConfig struct {
	// Epochs is the total number of epochs over the training set [10]. A resumed run continues
	// up to Epochs.
	Epochs int
	// BatchSize is the training batch size [64]; the last partial batch of an epoch is dropped.
	BatchSize int
	// LR, Beta1, Beta2 configure Adam for the params θ [1e-3, 0.9, 0.999].
	LR, Beta1, Beta2 float64
	// WeightDecay is decoupled weight decay on θ (AdamW) [0].
	WeightDecay float64
	// ClipNorm clips the global gradient norm of θ (0: no clipping).
	ClipNorm float64
	// LabelSmoothing smooths the training labels [0].
	LabelSmoothing float64

	// Regs is the reg mode [RegsLearn].
	Regs RegMode
	// RegLR is the learning rate of φ [0.01]; RegOptimizer names its optimizer in internal/optim's
	// registry: "adam" [default] or "sgd" (the registry's other defaults apply).
	RegLR        float64
	RegOptimizer string
	// RegEvery is r: φ is updated after every r-th θ step [30].
	RegEvery int
	// MC is K, the number of noisy passes averaged on a regularization batch [4].
	MC int
	// RegBatch is the number of regularization examples per φ update [BatchSize].
	RegBatch int
	// Sigma, when > 0, overrides the initial σ of every noise reg (log σ = ln Sigma).
	Sigma float64
	// RegBatchNorm says what BatchNormalization uses in the regularization passes: "eval"
	// [default] — the running statistics, as the deployed model does — or "batch" — the statistics
	// of the regularization batch, computed in each of the K noisy passes over its RegBatch
	// examples (a pass is normalized like a training step, never over the K passes together),
	// without updating the running statistics. Neither mode lets regularization data into the
	// running statistics. The φ update's activations are those of about RegBatch rows either way;
	// "batch" costs K extra forward passes per update (see phiPasses in phi.go).
	RegBatchNorm string

	// Freeze names the params that stay fixed: "" (none), "head" (all but the classifier head),
	// "last:N" (all but the params of the last N parameterised nodes) or a regular expression
	// over initializer names.
	Freeze string
	// Trainable is a regular expression selecting more values to train as params besides the
	// weight slots onnximport.Model.Weights finds (Constant or Identity outputs, by value or node
	// name); a match that cannot be trained is refused.
	Trainable string

	// Seed makes the run repeatable: data order, noise and regularization batches derive from it.
	Seed int64

	// Checkpoint is the checkpoint file; CheckpointEvery writes it every that many steps (and at
	// the end of every epoch). Resume continues from Checkpoint if it exists.
	Checkpoint      string
	CheckpointEvery int
	Resume          bool

	// Log receives one JSON line per φ update ("kind":"reg") and per epoch ("kind":"epoch").
	Log io.Writer
	// Hooks are the caller's side effects on the loop (progress display, …); see Hooks for the
	// order in which they run with Train's own.
	Hooks []Hooks
	// Version is the tool version recorded in the provenance ("" records none).
	Version string
	// EvalBatch is the batch size of evaluation passes [0: BatchSize, so that the evaluation net
	// reuses the training pass's buffers (executor.Arena) instead of needing larger ones].
	EvalBatch int
	// NoEpochEval skips the deterministic pass over the regularization set at each epoch end
	// (EpochStats.RegNLL and RegAcc stay 0); benchmarks use it to time training alone.
	NoEpochEval bool
}

// DefaultConfig returns the configuration Train uses for every zero field: the paper's K = 4 and
// r = 30, Adam for θ (lr 1e-3, β = 0.9, 0.999) and for φ (lr 1e-2). The CLI's flag defaults and
// xreg-bench start from it. RegBatch and EvalBatch stay 0: they mean BatchSize.
func DefaultConfig() TrainConfig {
	return TrainConfig{
		Epochs: 10, BatchSize: 64, LR: 1e-3, Beta1: 0.9, Beta2: 0.999,
		Regs: RegsLearn, RegLR: 1e-2, RegOptimizer: optim.AdamName, RegEvery: 30, MC: 4, RegBatchNorm: "eval",
	}
}

// ConfigError is a TrainConfig field whose value Train cannot honour. Field is the field's name
// (the CLI maps it to its flag); Err, when set, is the underlying error.
type ConfigError struct {
	Field  string
	Value  any
	Reason string
	Err    error
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("xreg: train: %s %v: %s", e.Field, e.Value, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Normalize fills the zero fields in from DefaultConfig and checks the configuration; Train calls
// it too. Its errors are *ConfigError.
func (c *TrainConfig) Normalize() error {
	d := DefaultConfig()
	for _, f := range []struct{ p, def *int }{{&c.Epochs, &d.Epochs}, {&c.BatchSize, &d.BatchSize}, {&c.RegEvery, &d.RegEvery},
		{&c.MC, &d.MC}} {
		if *f.p == 0 {
			*f.p = *f.def
		}
	}
	for _, f := range []struct{ p, def *float64 }{{&c.LR, &d.LR}, {&c.Beta1, &d.Beta1}, {&c.Beta2, &d.Beta2}, {&c.RegLR, &d.RegLR}} {
		if *f.p == 0 {
			*f.p = *f.def
		}
	}
	if c.RegBatch == 0 {
		c.RegBatch = c.BatchSize
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = c.BatchSize
	}
	if c.Regs == "" {
		c.Regs = d.Regs
	}
	if c.RegOptimizer == "" {
		c.RegOptimizer = d.RegOptimizer
	}
	if c.RegBatchNorm == "" {
		c.RegBatchNorm = d.RegBatchNorm
	}
	bad := func(field string, v any, reason string) error {
		return &ConfigError{Field: field, Value: v, Reason: reason}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Epochs", c.Epochs}, {"BatchSize", c.BatchSize}, {"RegEvery", c.RegEvery}, {"MC", c.MC}, {"RegBatch", c.RegBatch}, {"EvalBatch", c.EvalBatch}} {
		if f.v < 1 && (f.name != "Epochs" || f.v < 0) {
			return bad(f.name, f.v, "must be positive")
		}
	}
	if _, ok := optim.Default(c.RegOptimizer); !ok {
		return bad("RegOptimizer", fmt.Sprintf("%q", c.RegOptimizer), "is not one of "+strings.Join(optim.Names(), ", "))
	}
	switch {
	case c.Regs != RegsLearn && c.Regs != RegsFixed && c.Regs != RegsOff:
		return bad("Regs", fmt.Sprintf("%q", c.Regs), "is not one of learn, fixed, off")
	case c.RegBatchNorm != "eval" && c.RegBatchNorm != "batch":
		return bad("RegBatchNorm", fmt.Sprintf("%q", c.RegBatchNorm), "is not eval or batch")
	case c.LR <= 0:
		return bad("LR", c.LR, "a learning rate must be positive")
	case c.RegLR <= 0:
		return bad("RegLR", c.RegLR, "a learning rate must be positive")
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return bad("LabelSmoothing", c.LabelSmoothing, "is outside [0, 1)")
	case c.Regs == RegsLearn && c.MC < 2:
		// One pass per example makes the regularization loss a plain noisy NLL whose gradient
		// only pushes σ to zero; the paper needs the average of several passes.
		return bad("MC", c.MC, "cross-regularization needs at least 2 Monte-Carlo passes (3–5 recommended)")
	}
	return nil
}
