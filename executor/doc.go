// Package executor runs and differentiates ONNX models in Gorgonia: it builds an onnximport.Model into a Gorgonia
// expression graph (Build), runs it (Net.Run, Net.Forward) and differentiates it (Net.Grad).
//
// # Model
//
// Build turns every ONNX node into Gorgonia nodes through a registry of op builders, one per
// supported op type (onnximport.SupportedOps). Shapes are static: graph inputs take the batch size
// of BuildOptions, and every node's shape is known when it is built. Float initializers used as op
// data, and the other weights onnximport.Model.Weights finds (Identity outputs of initializers,
// Constant nodes feeding weight slots, BuildOptions.Weights.Select), become learnable parameter
// nodes (Net.Params) named by the value the ops read, bound to tensors in Net.Values that several
// nets (for example one per batch size) can share through BuildOptions.Values; running statistics
// are listed in Net.State. Constants, and shape arithmetic on constants, are folded at build time:
// shapes are static per batch, so Shape, Size and everything computed from them (Gather, Concat,
// Equal, Where, Mod, Cast, ConstantOfShape, …) are constants, not refused.
// RandomNormalLike and RandomUniformLike nodes become noise inputs (Net.Noise) that each forward
// pass fills from a caller's generator, with zeros (the deterministic net) or with fixed values:
// gradients flow through them as through any input (the reparameterization trick).
//
// The package's ops are custom Gorgonia ops with symbolic gradients. They follow ONNX semantics
// where PyTorch and Gorgonia differ (the ReLU derivative at 0 is 0), broadcast as numpy does, and
// write their results into reused buffers, so that a training step allocates little. A net runs
// its ops in its own order and lends each op its output buffer from an Arena for the span between
// the op and the value's last reader (noise inputs too), so a pass holds only the values still to
// be read; nets that share an Arena (BuildOptions.Arena) reuse each other's buffers. The outputs,
// the loss and the gradients keep their own buffers, valid until the net's next pass; other nodes'
// values are kept only with BuildOptions.KeepValues (Gorgonia's tape machine, every value in a
// buffer of its own). Run returns copies.
//
// # Names
//
// The executor does not know cross-regularization: Net.Params holds every learnable node, which to
// package xreg are the params θ and the regs φ alike (xreg splits them by the xreg.regs metadata);
// Net.State holds running statistics, which are neither. onnximport owns reading and writing the
// model; the executor only reads it.
//
// # Errors
//
// Build reports an unsupported construct (a shape input that is not constant, shapes that do not
// broadcast) as an error naming the ONNX node. Run reports a missing input or a shape other than the
// one the net was built for as an error naming the input.
package executor
