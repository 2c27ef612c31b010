package kernels

import (
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

// ReadsStateOf says that the gradient reads the forward op's argmax record, kept outside the
// graph's edges: an executor that orders ops itself runs it after the forward op.
func (op *maxPoolGradOp) ReadsStateOf() []gorgonia.Op {
	if op.fwd == nil {
		return nil
	}
	return []gorgonia.Op{op.fwd}
}
