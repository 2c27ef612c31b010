package export

import (
	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// inferenceForm rewrites the training-form nodes of a model exported with its modules in train()
// into their inference form, so that the deployed model computes what the trainer's deterministic
// prediction computes: BatchNormalization with training_mode=1 (opsets ≥ 14) or with
// running-statistics outputs (opsets 9–13) gets training_mode=0 (running statistics) and loses
// those outputs; Dropout loses its training_mode input and
// mask output. Nothing may read the dropped outputs (onnximport and Build refuse that). It returns
// the names of the nodes it rewrote.
func inferenceForm(m *onnximport.Model, ed *onnximport.Editor) []string {
	var names []string
	for _, n := range m.Graph.Nodes {
		p := ed.NodeProto(n)
		switch {
		case n.OpType == "BatchNormalization" && (n.Int("training_mode", 0) != 0 || extraOutputs(n)):
			// Opsets 9–13 say "training" by the running-statistics outputs alone.
			for _, a := range p.Attribute {
				if a.GetName() == "training_mode" {
					a.I = proto.Int64(0)
				}
			}
		case n.OpType == "Dropout" && (n.Input(2) != "" || len(n.Outputs) > 1):
			if len(p.Input) > 2 {
				p.Input = p.Input[:2]
			}
		default:
			continue
		}
		if len(p.Output) > 1 {
			p.Output = p.Output[:1]
		}
		names = append(names, n.Name)
	}
	return names
}

// extraOutputs reports whether any output but the first is used.
func extraOutputs(n *onnximport.Node) bool {
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return true
		}
	}
	return false
}
