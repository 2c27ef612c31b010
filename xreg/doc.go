// Package xreg is cross-regularization: it fine-tunes an injected ONNX model (package inject) with
// two sets of parameters and two data sets.
//
// # Names
//
//   - θ, the params: the model's own weights wherever they live (onnximport.Model.Weights): float
//     initializers, values an Identity node derives from one (each its own param, even when an
//     exporter shared the initializer between identical initial values), Constant nodes feeding
//     weight slots, and what TrainConfig.Trainable selects. A weight slot that cannot be trained
//     is refused, never silently kept fixed; WriteBack writes each value back where it lives.
//   - φ, the regs: the parameters inject added (the σ of each noise point, augmentation
//     magnitudes), listed in the model's xreg.regs metadata.
//   - The training set moves θ; the regularization set moves φ.
//   - BatchNorm running statistics are state, neither θ nor φ.
//
// # Training
//
// Train runs the loop: every step one noisy pass over a training batch and an optimizer step on θ;
// every RegEvery steps a regularization batch goes through MC noisy passes, each with its own
// noise, and the negative log-likelihood of the averaged probabilities moves φ only; the passes run
// in slices of about one batch (phi.go), so the φ update needs no more memory than a step. The graph itself is
// built and differentiated by package executor. Checkpoints (SaveCheckpoint, LoadCheckpoint) let a
// killed run resume to the same result; WriteBack writes trained values into the ONNX model,
// WriteResult the values and the run's provenance (xreg.train.… metadata); Predict evaluates a
// model deterministically or with Monte-Carlo noise.
//
// # Configuration, hooks, errors
//
// TrainConfig and DefaultConfig (config.go) hold every setting and its default in one place; the
// CLI's flags and xreg-bench start from DefaultConfig. Optimizers are chosen by value from
// internal/optim's registry. The loop's side effects — the per-epoch evaluation, the JSONL log,
// checkpoints and the caller's own (a progress bar) — are Hooks (OnStart, OnStep, OnRegUpdate,
// OnEpoch, OnEnd), like gomlx's train.Loop. A setting Train cannot honour is a *ConfigError naming
// the TrainConfig field; only cmd/ maps fields to flag names.
package xreg
