// Package probs owns the arithmetic of class probabilities that the rest of the project shares:
// the softmax of a score vector, the top class, the negative log-likelihood of a label, and the one
// check that a vector is a probability distribution (non-negative, summing to 1 within Tolerance).
//
// calib (metrics), internal/predict (onnxruntime outputs, the predict/serve commands, data-set
// evaluation) and xreg (Monte-Carlo prediction, per-epoch evaluation) use it, so a score vector is
// softmaxed, ranked and scored the same way everywhere. It has no dependencies.
package probs
