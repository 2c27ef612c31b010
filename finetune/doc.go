// Package finetune runs the user's whole journey in one call: a pretrained ONNX classifier is
// injected with learnable noise (package inject), fine-tuned with cross-regularization (package
// xreg), compared with a plain fine-tune of the same budget (and, optionally, the fixed-σ grid
// search of the benchmark protocol), exported for deployment (package export: deterministic,
// temperature-folded, frozen Monte-Carlo ensemble), measured by onnxruntime on held-out test data,
// and written up in one calibration report (package calib) that says which model to ship and why.
//
// # Models compared
//
// In the report's order, which is also the order of simplicity used by the recommendation:
//
//	original       the input model, untouched
//	original+T     the input model with a temperature fitted on the regularization set
//	plain          fine-tuned without noise (θ only), same epochs, batch and optimizer
//	plain+T        plain with a fitted temperature
//	grid, grid+T   (Baseline "grid") the best of the fixed-σ runs GridSigmas, σ chosen by the
//	               regularization-set NLL of each run's last epoch, as PROTOCOL.md's method 4
//	xreg           cross-regularized (σ learned on the regularization set), noise removed
//	xreg+T         xreg with a fitted temperature
//	xreg-mcK       xreg as a frozen ensemble of K noise draws (K times the inference cost)
//
// # The recommendation
//
// Every model is also measured on the regularization set, which no θ update ever sees. The rule
// (Rule) ships the simplest model whose regularization-set NLL is within Tolerance of the lowest
// one; the test data only confirms or contradicts the choice, it never makes it.
//
// # Image preprocessing
//
// Config.Preprocess (else the spec the model records under preprocess.MetadataKey) converts the
// images of image folders for the training, regularization and test sets alike, and is recorded in
// every model Run writes, so predict, serve and report apply it by default.
//
// # Output
//
// Run writes everything into Config.Out, built in a temporary folder beside it and renamed into
// place, so a failed run leaves nothing behind and an existing folder is only replaced with
// Config.Force:
//
//	report.html, report.md, report.json, *.png, *.svg   the report (package calib)
//	models/<name>.onnx                                  every exported model but the original
//	models/original.onnx                                the original with Config.Preprocess recorded,
//	                                                    when the input does not record it
//	models/xreg.trained.onnx                            the trained injected model (re-export it)
//	logs/<run>.log.jsonl                                 the training logs (σ trajectory)
package finetune
