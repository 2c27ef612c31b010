// Package kernels provides fused Gorgonia operators for the spatial and normalization ONNX ops the
// executor trains through: Conv, MaxPool, AveragePool, GlobalAveragePool, BatchNormalization,
// LayerNormalization, GroupNormalization (and InstanceNormalization, its one-channel-per-group
// case), nearest-neighbour Resize and bilinear GridSample.
//
// # Model
//
// Every function takes Gorgonia nodes and returns the node of the op's output. The ops follow ONNX
// semantics (attribute names and defaults as in the ONNX operator documentation), work on float32
// and float64 tensors, and are symbolically differentiable: each backward pass is its own
// gorgonia.Op, created by SymDiff, so gorgonia.Grad and the TapeMachine handle them like built-in
// ops. Shapes are fixed when the node is built; running a node on a tensor of another shape is an
// error, not a panic.
//
// Conv on float32 2-D data runs oneDNN's direct JIT kernels (Debian libdnnl-dev, through cgo;
// dnnl.go) for the forward pass and both backward passes in the default build: the batch is split
// into GOMAXPROCS equal parts, each run single-threaded by oneDNN in its own goroutine (no OpenMP
// team), with the tensors reordered to oneDNN's blocked layouts in a shared scratch arena. Where
// the weights outweigh the batch's data (late layers: small images, many channels), the channels
// are split instead (output channels; input channels for the input gradient), so that each worker
// reorders only its share of the weights and the weight gradient needs no partial sums. Where
// oneDNN offers only its im2col or reference fallbacks, for float64, 1-D convolutions, and in a
// build with the tag purego (or nodnnl, or without cgo), Conv uses im2col and one BLAS gemm per
// image and group, writing the output directly in NCHW layout (no transposes); images are spread
// over GOMAXPROCS goroutines. The BLAS is the one Gorgonia uses (gorgonia.WhichBLAS; OpenBLAS in
// the default build, see internal/blas), so gorgonia.Use switches both. Backend says which paths a
// binary has.
//
// # Memory
//
// Each op owns its output tensor and its scratch buffers (im2col columns, per-worker partial
// sums) and reuses them on every execution, so a training step allocates almost nothing: like the
// values of the executor's other ops, a node's value is valid until the op runs again; copy it to
// keep it. An op must not be executed by two machines at the same time. An executor that knows
// the values' lifetimes lends instead (executor.Arena, lend.go): the output buffer (SwapOutput),
// the convolutions' scratch for the span of one run (SetLender: oneDNN's reordered copies and
// scratchpad, im2col columns), and MaxPool's argmax record from the forward op to its gradient
// (SwapState). Without a lender, oneDNN's reordered copies and scratchpads live in one buffer per
// worker slot shared by all convolutions (sized to the largest), not one per primitive.
//
// # Normalization statistics
//
// BatchNormalization, LayerNormalization and GroupNormalization are built as two nodes: a statistics
// node (per-channel, per-row or per-group mean and 1/sqrt(var+ε)) and the normalisation node that
// applies them; LayerNorm and GroupNorm share one block-normalisation core (blocknorm.go). The
// backward ops read the statistics node instead of recomputing them, and the normalisation node's
// input gradient includes the path through the batch statistics.
//
// A BatchNorm value holds the running statistics of one BatchNormalization node and its Mode:
// Eval normalises with the running statistics, Train with the batch statistics and then updates
// the running statistics in place (ONNX momentum: running = running·momentum + batch·(1−momentum),
// so ONNX's default 0.9 is PyTorch's 0.1; the running variance takes the unbiased batch variance,
// as PyTorch does, while normalisation uses the biased one), and TrainFrozen normalises with the
// batch statistics without touching the running ones (for evaluation passes in training mode and
// for finite-difference checks). The ops do not implement gorgonia.TrainModeOp on purpose:
// gorgonia.NewTapeMachine would otherwise switch every BatchNorm to training when it is created.
package kernels
