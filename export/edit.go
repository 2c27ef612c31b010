package export

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// scores describes the graph output holding the class scores.
type scores struct {
	name string
	// producer is the node computing it.
	producer *onnximport.Node
	// probs is true when producer is a Softmax; logits is then its input.
	probs  bool
	logits string
}

// scoreOutput finds the output named name ("" for the only one) in the deterministic model.
func scoreOutput(det *onnximport.Model, name string) (*scores, error) {
	outs := det.Graph.Outputs
	var names []string
	for _, o := range outs {
		names = append(names, fmt.Sprintf("%q", o.Name))
	}
	if name == "" {
		if len(outs) != 1 {
			return nil, fmt.Errorf("the model has %d outputs (%s): name the one holding the class scores (--scores)",
				len(outs), strings.Join(names, ", "))
		}
		name = outs[0].Name
	}
	found := false
	for _, o := range outs {
		if o.Name == name {
			found = true
			if o.DType != 0 && o.DType != onnximport.Float32 {
				return nil, fmt.Errorf("output %q holds %v values; class scores must be float32", name, o.DType)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("the model has no output %q (outputs: %s)", name, strings.Join(names, ", "))
	}
	p := det.Graph.Producer[name]
	if p == nil {
		return nil, fmt.Errorf("output %q is not computed by any node", name)
	}
	s := &scores{name: name, producer: p}
	if p.OpType == "Softmax" {
		s.probs, s.logits = true, p.Input(0)
	}
	return s, nil
}

// renameOutput makes the producer of graph output out write to a new internal value, which every
// other reader of out reads instead, and returns that value's name: a new node can then compute
// out itself.
func renameOutput(ed *onnximport.Editor, s *scores, internal string) string {
	v := ed.Unique(internal)
	ed.Rewire(s.name, v)
	p := ed.NodeProto(s.producer)
	for i, o := range p.Output {
		if o == s.name {
			p.Output[i] = v
		}
	}
	for _, vi := range ed.Proto().Graph.ValueInfo {
		if vi.GetName() == s.name {
			vi.Name = proto.String(v)
		}
	}
	return v
}
