// Package calib measures how well the class probabilities of a classifier
// are calibrated and writes a calibration report.
//
// # Inputs
//
// Every metric is computed from a matrix of class probabilities p[i][k]
// (one row per example, one column per class) and integer labels y[i] in
// [0, K). Compute validates its input and rejects, with an error that names
// the offending row, empty input, ragged rows, NaN or ±Inf, negative
// probabilities, labels out of range and rows that do not sum to 1 within
// RowSumTolerance. The last case usually means the model emits logits; the
// error wraps ErrNotProbabilities and Softmax converts logits to
// probabilities. calib does not depend on any other package of xreg-onnx.
//
// # Metrics
//
// Let c_i = max_k p[i][k] be the top-label confidence and ŷ_i the arg max
// (ties go to the lowest class index).
//
//   - Accuracy: fraction of examples with ŷ_i = y_i.
//   - NLL: mean of −ln max(p[i][y_i], ProbFloor), natural logarithm; the
//     floor ProbFloor = 1e-12 keeps a single zero probability from making the
//     mean infinite (it then contributes −ln 1e-12 ≈ 27.63).
//   - Brier: the multi-class Brier score, mean over examples of
//     Σ_k (p[i][k] − 1[k = y_i])². It lies in [0, 2]; it is not divided by
//     the number of classes, and for two classes it is twice the binary
//     Brier score of the positive class.
//   - ECE: expected calibration error with B equal-width bins on c_i. Bin b
//     covers (b/B, (b+1)/B], except that bin 0 also includes 0.
//     ECE = Σ_b (n_b / n)·|acc_b − conf_b| over non-empty bins, where acc_b
//     is the accuracy and conf_b the mean confidence of the bin.
//   - Adaptive ECE: the same sum over B equal-mass bins. Examples are sorted
//     by confidence (ties keep input order) and bin b receives the examples
//     of sorted positions ⌊n·b/B⌋ … ⌊n·(b+1)/B⌋−1, so bin sizes differ by at
//     most one. Its reported Lower and Upper are the smallest and largest
//     confidence in the bin.
//   - MCE: max_b |acc_b − conf_b| over the non-empty equal-width bins.
//   - Per-class accuracy: for each class k, the fraction of examples labelled
//     k that are predicted k (the recall of class k).
//
// B defaults to DefaultBins (15).
//
// # Temperature scaling
//
// FitTemperature finds the T > 0 that minimises the NLL of softmax(z/T) for
// logits z. The NLL is convex in 1/T, hence unimodal in ln T, and a golden
// section search on ln T over [MinTemperature, MaxTemperature] finds its
// minimum without derivatives.
//
// # Report
//
// A Report holds one or more named models (for example "original",
// "fine-tuned", "temperature", "mc-4") with their Metrics, free-form
// provenance and an optional σ Trajectory read from a training log with
// ReadTrajectory (its legend and table use ShortNames: "bn1" for
// "xreg.noise.bn1.BatchNormalization.log_sigma"). A report may also carry a
// Recommendation (the model to ship, the rule and the numbers behind it),
// each model's Selection metrics on the data the choice is made on, model
// descriptions and a Context (model, data, settings, time, machine), as
// package finetune writes them. WriteReport writes report.json (every metric and bin),
// report.md (tables with one row per model), a self-contained report.html
// (inline CSS, figures embedded as data URIs, no external resource, print
// rules that keep tables and figures whole), and the reliability diagrams
// and σ plot as PNG and SVG files. Every file is written to a temporary file
// in the same directory and renamed into place. The figures are drawn with
// gonum.org/v1/plot; PlotReliability and PlotTrajectory render a single
// figure to an io.Writer.
package calib
