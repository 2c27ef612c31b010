package kernels

import (
	"unsafe"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// An executor that knows when a node's value is last read can lend the op its output buffer
// instead of letting the op own one forever (executor.Arena): SwapOutput installs d as the op's
// output buffer (nil: none, the op allocates one on its next run) and returns the previous one,
// which the op no longer references. A lent buffer of the wrong shape or element type is replaced
// by a fresh one on the next run, so lending is never unsafe, only useless.
func (b *outBuf) swap(d *tensor.Dense) *tensor.Dense {
	old := b.d
	b.d = d
	return old
}

func (op *bnStatsOp) SwapOutput(d *tensor.Dense) *tensor.Dense     { return op.ob.swap(d) }
func (op *bnOp) SwapOutput(d *tensor.Dense) *tensor.Dense          { return op.ob.swap(d) }
func (op *bnGradSumsOp) SwapOutput(d *tensor.Dense) *tensor.Dense  { return op.ob.swap(d) }
func (op *bnGradInputOp) SwapOutput(d *tensor.Dense) *tensor.Dense { return op.ob.swap(d) }
func (op *rowOp) SwapOutput(d *tensor.Dense) *tensor.Dense         { return op.ob.swap(d) }
func (op *normStatsOp) SwapOutput(d *tensor.Dense) *tensor.Dense   { return op.ob.swap(d) }
func (op *normOp) SwapOutput(d *tensor.Dense) *tensor.Dense        { return op.ob.swap(d) }
func (op *normGradOp) SwapOutput(d *tensor.Dense) *tensor.Dense    { return op.ob.swap(d) }
func (op *convOp) SwapOutput(d *tensor.Dense) *tensor.Dense        { return op.ob.swap(d) }
func (op *convGradOp) SwapOutput(d *tensor.Dense) *tensor.Dense    { return op.ob.swap(d) }
func (op *channelSumOp) SwapOutput(d *tensor.Dense) *tensor.Dense  { return op.ob.swap(d) }
func (op *maxPoolOp) SwapOutput(d *tensor.Dense) *tensor.Dense     { return op.ob.swap(d) }
func (op *maxPoolGradOp) SwapOutput(d *tensor.Dense) *tensor.Dense { return op.ob.swap(d) }
func (op *avgPoolOp) SwapOutput(d *tensor.Dense) *tensor.Dense     { return op.ob.swap(d) }
func (op *avgPoolGradOp) SwapOutput(d *tensor.Dense) *tensor.Dense { return op.ob.swap(d) }
func (op *gapOp) SwapOutput(d *tensor.Dense) *tensor.Dense         { return op.ob.swap(d) }
func (op *resizeOp) SwapOutput(d *tensor.Dense) *tensor.Dense      { return op.ob.swap(d) }

// SetLender makes the convolutions take their scratch memory (oneDNN's reordered copies and
// scratchpad, the Go kernels' im2col columns and partial sums) from l for the span of each run,
// instead of keeping it between runs (nil: back to keeping it).
func (op *convOp) SetLender(l Lender)     { op.s.setLender(l) }
func (op *convGradOp) SetLender(l Lender) { op.s.setLender(l) }

// StateShape is the shape of the argmax record the forward max pooling keeps for its gradient, in
// float32 elements (each holds an int32 position).
func (op *maxPoolOp) StateShape() tensor.Shape { return tensor.Shape{op.ys.TotalSize()} }

// SwapState installs d, a float32 tensor of StateShape's size (nil: none, the op allocates one on
// its next run), as the buffer of the argmax record and returns the buffer the op no longer
// references: the previous lent one (nil if the op owned it), or d itself if it does not fit.
// An executor lends it from just before the
// forward op runs to just after the last gradient op that reads it (ReadsStateOf) ran; a gradient
// that runs without it recomputes the positions, so lending is never unsafe.
func (op *maxPoolOp) SwapState(d *tensor.Dense) *tensor.Dense {
	var b []float32
	if d != nil {
		var ok bool
		if b, ok = d.Data().([]float32); !ok || len(b) != op.ys.TotalSize() {
			return d
		}
	}
	old := op.state
	op.state, op.mask = d, nil
	if len(b) > 0 {
		op.mask = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	}
	return old
}

// ReadsStateOf says that the gradient reads the forward op's argmax record, kept outside the
// graph's edges: an executor that orders ops itself runs it after the forward op.
func (op *maxPoolGradOp) ReadsStateOf() []gorgonia.Op {
	if op.fwd == nil {
		return nil
	}
	return []gorgonia.Op{op.fwd}
}

// HeldScratch returns the elements of scratch memory the op keeps between its runs (0 when a
// lender lends it; for tests).
func (op *convOp) HeldScratch() int     { return op.s.held() }
func (op *convGradOp) HeldScratch() int { return op.s.held() }
