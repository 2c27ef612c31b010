// Package predict turns a classifier's outputs into class probabilities: it reads inputs (NumPy .npy arrays, PNG/JPEG images, JSON arrays), fits them to the
// model's input shape, runs the model through internal/ort and serves predictions over HTTP.
//
// It is the one place that runs a classifier in onnxruntime and returns class probabilities: a
// Predictor wraps a single-input model for the predict and serve commands; Evaluate runs a model
// over a data set (report, export's temperature fit, xreg-bench). In both, the first output holds
// one score vector per example; if every row is already a probability vector (probs.Check:
// non-negative, summing to 1 within probs.Tolerance) it is returned as is, otherwise softmax is
// applied to every row, and the result says which. Evaluate first honours an export's
// OutputMetadata entry. EvaluateMC evaluates a stochastic model (injected or trained, before
// export) by fresh Monte-Carlo averaging: every example replicated K times in the batch, each copy
// with its own noise draw from onnxruntime's seeded random nodes, the K probability vectors
// averaged (report --mc, xreg-bench).
//
// Input shapes: an input fits the model when it has the model's rank and equal sizes wherever the
// model's dimension is fixed (-1 in ort.Info accepts any size). A single example without the batch
// dimension is accepted when the model's batch dimension is dynamic or 1; it becomes a batch of one.
//
// Images are converted by package preprocess when a spec is given (ImageInput; predict and serve
// pass the one the model records from train). Without one, images are decoded, resized with
// bilinear interpolation (golang.org/x/image/draw) to the model's
// height and width, and scaled to [0, 1] without mean/std normalisation; transparent pixels count as
// black. The model input layout decides the conversion: [N, C, H, W] with C = 1 (gray, ITU-R 601
// luma) or 3 (RGB planes), [N, H, W] (gray), or [N, L] (a flattened square gray image, L = S*S, or
// RGB planes, L = 3*S*S). A dynamic H or W takes the image's own size.
//
// Runs are serialised: one Predictor runs one batch at a time, which bounds memory and CPU use when
// serving (raise ort.Options.IntraOpThreads to use more cores per run).
package predict
