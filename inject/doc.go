// Package inject rewrites an ONNX model so that it carries the regularization parameters ("regs",
// φ) of cross-regularization, as standard ONNX operators, so that the rewritten model is itself a
// valid ONNX file: onnxruntime runs it (stochastically), Netron shows it, and the trainer reads it.
//
// # Noise after normalization
//
// Every normalization point is found: BatchNormalization, LayerNormalization, InstanceNormalization,
// GroupNormalization, and the layer norm that exporters before opset 17 spell out as
// ReduceMean → Sub → Pow → ReduceMean → Add → Sqrt → Div (optionally followed by the affine Mul and
// Add, in which case the noise goes after the Add). Between the point and whatever consumed its
// output, Apply inserts learnable Gaussian noise:
//
//	additive:        y = x + σ ⊙ ε
//	multiplicative:  y = x ⊙ (1 + σ ⊙ ε), written x + x ⊙ (σ ⊙ ε)
//	σ = exp(log σ),  ε = RandomNormalLike(x)
//
// # Placement relative to the affine part
//
// Options.Placement PostAffine (the default, see DefaultPlacement) puts the noise on the
// normalization node's output, after its scale γ and bias β. PreAffine puts it on the normalized
// value, before γ and β, as the paper does (App. C.1: normalization without affine, then noise):
// the node's scale and bias inputs are replaced by Constant ones and zeros, and γ, β follow the
// noise as Mul and Add (reshaped to [C, 1, …, 1] for batch, instance and group norm), so that
//
//	y = γ ⊙ (x̂ + σ ⊙ ε) + β
//
// The node stays an ordinary BatchNormalization (LayerNormalization, …) with constant γ = 1,
// β = 0: onnxruntime and the trainer's executor run it unchanged, its running statistics and
// training/evaluation modes work as before, and the trained γ and β stay in their original
// initializers. Reg.Affine records the node's original inputs, which export restores. A decomposed
// layer norm keeps its affine Mul/Add in place and gets the noise after its Div. The per-group scale
// and bias of an opset-18 GroupNormalization are expanded to channels by a MatMul with a constant
// 0/1 matrix.
//
// log σ is a float32 initializer named "xreg.noise.<point>.log_sigma", of shape [1] (granularity
// "layer") or one value per channel (granularity "channel": [C,1,…,1] on axis 1 for batch, instance
// and group norm, the normalized trailing shape for layer norm), initialised to log Sigma0.
//
// # Noise after any node
//
// Options.At replaces the normalization points by every node whose op type or name matches a
// regular expression, for models without normalization (a VGG without BatchNorm, AlexNet,
// SqueezeNet): e.g. "Relu|Dropout" puts noise after every ReLU and Dropout. The noise is the same
// subgraph; per-channel σ lies on axis 1 of the node's output ([C,1,…,1], or [F] for a [N,F]
// output); there is no affine part, so Placement does not apply. A Dropout node becomes Gaussian
// dropout: multiplicative noise x·(1 + σε) with σ0 = sqrt(p/(1 − p)) from its rate p (the same
// mean and variance as dropout at rate p; Options.Sigma0 overrides it), and the σ learned on the
// regularization set reads back as the rate σ²/(1 + σ²) (DropoutRate; export records it). The
// Dropout node itself stays, an identity at inference, so the export is the user's graph. A node
// whose output is not a float activation (Shape, Constant, comparisons, …) is refused.
//
// # Input augmentation
//
// With Options.Augment, the model's image input x (N×C×H×W, static C, H, W) is resampled before any
// node reads it. Each transform has one learnable magnitude m (initializer
// "xreg.augment.<kind>.magnitude", shape [1]) and each sample draws u ~ U(−1, 1)
// (RandomUniformLike), so the transform's amount a = m·u is differentiable in m
// (reparameterization). In pixel coordinates p relative to the image centre (x right, y down), output
// pixel p takes the input at
//
//	q = exp(−a_scale) · R(a_rotate) · Sh(a_shear) · p − (a_tx, a_ty)
//	R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]] (θ in degrees),  Sh(h) = [[1, h], [0, 1]]
//
// so translate moves the content by +a pixels (two draws: x and y), rotate turns it by a degrees
// (counter-clockwise on screen), shear slants it horizontally by a, and scale zooms it by exp(a).
// The sampling grid is an affine function of six per-sample coefficients (k·cos, k·sin, k·cos·h,
// k·sin·h, t_x, t_y): a MatMul of the [N, m] coefficients (m ≤ 6, only the non-constant ones) by a
// constant [m, H·W·2] basis of pixel coordinates already scaled to GridSample's normalized
// coordinates (align_corners 0), then GridSample (bilinear, zero padding). This is the
// AffineGrid + GridSample pair without AffineGrid (opset 20): it needs only GridSample (opset 16) and
// plain 2-D MatMul, which the trainer's executor supports.
//
// GridSample needs opset 16. A model with opset 11–15 has its default opset raised to 16 (and its IR
// version to at least 8) when every op it uses is known to keep its meaning across the raise: between
// opsets 11 and 16 only Softmax (axis semantics, 13), Dropout (ratio became an input, 12) and Resize
// (13) changed for the supported op set; BatchNormalization 14/15 and Reshape 14 added attributes
// whose defaults keep the old behaviour, and the other changes only widen type constraints. A model
// using an op that changed, or one not in that table, gets an error asking for
// onnx.version_converter.
//
// # Learnable weight norms
//
// With Options.Norm = NormL2 the weight W (input 1, a float32 initializer read by no other node) of
// every selected Conv, Gemm and MatMul node is read as ρ·W/‖W‖ (the paper's L2 reparameterization,
// §3.2): W stays a param (θ) and now only sets the direction, log ρ is a new reg (φ, KindNorm,
// "xreg.norm.<node>.log_rho", initialised to log ‖W‖ so that the model is unchanged). The nodes are
// Mul(W, W) → ReduceMean (all axes) → Sqrt, Exp(log ρ), a Constant 1/√n, Div and two Mul. The
// gradient that reaches W through them is the training gradient projected orthogonally to W, so
// training cannot change ‖ρ·W/‖W‖‖ = ρ; the regularization passes move log ρ. Where and Skip select
// weight nodes by name or op as they select normalization points (--norm l2 --where Gemm: a norm on
// the classifier head, no noise). The L1 rule is refused in graphs: its gradient split and zero
// handling are not what the trainer's Adam step on θ does (package xreg/linear has it).
//
// # Metadata
//
// The rewritten model records every reg in the metadata entry "xreg.regs" (a JSON array of Reg:
// initializer name, kind, mode, granularity, point, the value that was regularized and the value
// that replaced it, the initial value, and the names of the nodes added) and "xreg.version", so that
// training and export never guess: Regs reads it back. Added nodes are named "xreg/…"; parameters
// "xreg.…".
//
// # Errors
//
// Apply refuses, with one error naming the model and the node, input or option at fault: a model
// that is already injected, one with no normalization point (unless augmenting), a selection that
// matches nothing, a non-image input with augmentation, a normalization output that is a graph
// output, an opset it cannot raise safely. On error the model is left unchanged.
package inject
