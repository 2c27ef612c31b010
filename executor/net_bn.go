package executor

import "github.com/xreg-onnx/xreg-onnx/internal/kernels"

// BatchNorms returns the state of every BatchNormalization node of the net, in model order: its
// running statistics (the shared tensors of Values, updated in place by training-mode passes),
// constants, and mode. Stats and SetStats save and restore the running statistics.
func (n *Net) BatchNorms() []*kernels.BatchNorm {
	var out []*kernels.BatchNorm
	for _, node := range n.Graph.AllNodes() {
		if bn, ok := kernels.BatchNormOf(node.Op()); ok {
			out = append(out, bn)
		}
	}
	return out
}

// SetBatchNormMode sets the mode of every BatchNormalization node: kernels.Eval (running
// statistics), kernels.Train (batch statistics, running statistics updated) or kernels.TrainFrozen
// (batch statistics, running statistics untouched: evaluation passes of a net in training mode).
// SetTraining overrides it with Train or Eval.
func (n *Net) SetBatchNormMode(m kernels.Mode) {
	for _, bn := range n.BatchNorms() {
		bn.SetMode(m)
	}
}
