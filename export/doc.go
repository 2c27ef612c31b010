// Package export turns a trained model (an injected model whose initializers the trainer updated)
// into a deployable, deterministic ONNX model: the noise and augmentation subgraphs that inject
// added are removed, and the graph is the original one carrying the trained parameters θ and
// BatchNorm running statistics.
//
// # Deterministic export
//
// Apply reads the regs recorded by inject (metadata "xreg.regs"), removes every node they list,
// makes every node that read a reg's replacement value read the original value again, and drops
// the regs' initializers (log σ, magnitudes) and any other initializer only the removed nodes read.
// Noise is added after a value, so removing it is exact: export(inject(m)) is m, node for node.
// For noise placed before a normalization's affine part (inject.PreAffine), the split Mul/Add
// are removed too and the normalization node reads its original scale and bias inputs again
// (inject.Affine): the deployed node is the user's, carrying the trained γ and β. A learnable
// weight norm (inject.KindNorm) is folded first: its weight becomes ρ·W/‖W‖ (float64, rounded once
// to float32), so the node reads one plain weight tensor again and the exported graph is the
// original's with only weights changed; Learned.Norm reports ρ.
// Everything else of the model survives untouched: input and output names and shapes, opset
// imports, node names and order, doc strings, value_info, unrelated metadata, and the training
// provenance "xreg.train.*" that the trainer recorded. Input augmentation is dropped in every
// export: test-time augmentation is not what the tool ships. If inject raised the model's opset for
// augmentation, the export keeps the raised opset (the ops mean the same under both).
//
// The learned φ are recorded in metadata "xreg.export.regs" (a JSON array of Learned: log σ and σ
// per noise point, magnitude per augmentation), with "xreg.export.method", "xreg.export.output"
// ("logits" or "probabilities") and "xreg.export.version". The entries "xreg.regs" and
// "xreg.version" are removed: the export is a plain model that inject accepts again.
//
// # Calibration without randomness
//
// Cross-regularization's calibration gain shows in the Monte-Carlo average of noisy passes, which a
// plain deterministic export throws away. Two options keep part of it and stay deterministic (same
// input, same output, bit for bit, in onnxruntime and in the project's executor, since they use only
// supported ops):
//
// Temperature (Options.Temperature, or Options.Calibration to fit it): the scores are divided by a
// temperature T folded into the graph, an initializer "xreg.temperature" and a Div node
// "xreg/temperature". For a model whose output is logits the Div produces the output (its name is
// kept); for a model that ends in Softmax the Div goes before the Softmax. Fitting runs the
// deterministic export in onnxruntime on the calibration set and minimises the NLL of
// softmax(z/T) (calib.FitTemperature).
//
// Monte-Carlo ensemble (Options.MC = K): the batch is replicated K times (Concat on axis 0, draw
// k holding rows k·N … k·N+N−1); at each noise point the value v of shape [K·N, d…] is reshaped to
// [K, N, d…] and gets a frozen draw of shape [K, 1, d…] (the same for every example):
//
//	additive:        v + σ·ε_k
//	multiplicative:  v · (1 + σ·ε_k)
//
// where σ = exp(log σ) is learned (broadcast over d as in training) and ε_k standard normal, drawn with
// math/rand/v2's PCG seeded by (Options.Seed, MCStream), reg by reg in metadata order, draw by draw,
// element by element in row-major order, then rounded to float32. The frozen draws are initializers
// "xreg.mc.<point>.noise". For a pre-affine point the draw is scaled by the node's trained γ
// (v + γ·σ·ε_k = γ·(x̂ + σ·ε_k) + β); multiplicative pre-affine noise is refused. At the output
// the scores [K·N, C] become [K, N, C], Softmax over the classes (skipped when the model already outputs probabilities), then ReduceMean over the K draws:
// the output keeps its name and holds probabilities. The per-example shapes must be static.
//
// # Errors
//
// Apply refuses with one error naming the model and what is wrong: a model that was never injected
// (or is already an export), regs metadata that lists a node, value or parameter the model lacks,
// a parameter that is not finite, a parameter or value whose shape no longer matches what inject
// recorded (shape drift), a random node left after removal, and invalid options. On error the
// model is unchanged.
//
// The temperature is fitted on the logits that internal/predict's Evaluate computes in
// onnxruntime (the one place that runs a classifier over a data set); Apply edits the model
// through onnximport's Editor.
package export
