package onnximport

import (
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// Node is one operator application in a graph.
type Node struct {
	// Name is the node's name, or a generated "OpType_i" when the model leaves it empty (i is the
	// node's position in the file). Errors use it to point at the node.
	Name   string
	OpType string
	Domain string
	// Inputs and Outputs are value names; "" marks an omitted optional input or output.
	Inputs  []string
	Outputs []string
	Attrs   map[string]*Attr
	// Index is the node's position in the GraphProto's node list.
	Index int
	// Proto is the node as stored in the model.
	Proto *onnxpb.NodeProto
}

// Attr is a decoded node attribute.
type Attr struct {
	Name    string
	Type    onnxpb.AttributeProto_AttributeType
	F       float32
	I       int64
	S       string
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
}

func (n *Node) String() string { return fmt.Sprintf("node %q (%s)", n.Name, n.OpType) }

// Input returns the i-th input name, or "" when it is absent.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Int returns an INT attribute, or def when absent.
func (n *Node) Int(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.I
	}
	return def
}

// Float returns a FLOAT attribute, or def when absent.
func (n *Node) Float(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok {
		return a.F
	}
	return def
}

// String returns a STRING attribute, or def when absent.
func (n *Node) Str(name string, def string) string {
	if a, ok := n.Attrs[name]; ok {
		return a.S
	}
	return def
}

// Ints returns an INTS attribute, or def when absent.
func (n *Node) Ints(name string, def []int64) []int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.Ints
	}
	return def
}

// Has reports whether the attribute is present.
func (n *Node) Has(name string) bool { _, ok := n.Attrs[name]; return ok }

func decodeNode(p *onnxpb.NodeProto, index int) (*Node, error) {
	n := &Node{
		Name:    p.GetName(),
		OpType:  p.GetOpType(),
		Domain:  p.GetDomain(),
		Inputs:  p.GetInput(),
		Outputs: p.GetOutput(),
		Attrs:   map[string]*Attr{},
		Index:   index,
		Proto:   p,
	}
	if n.Name == "" {
		n.Name = fmt.Sprintf("%s_%d", n.OpType, index)
	}
	for _, ap := range p.GetAttribute() {
		a := &Attr{Name: ap.GetName(), Type: ap.GetType(), F: ap.GetF(), I: ap.GetI(), S: string(ap.GetS()), Floats: ap.GetFloats(), Ints: ap.GetInts()}
		for _, s := range ap.GetStrings() {
			a.Strings = append(a.Strings, string(s))
		}
		if ap.GetRefAttrName() != "" {
			return nil, fmt.Errorf("%v: attribute %q refers to a function attribute, which is not supported", n, a.Name)
		}
		if ap.T != nil {
			t, err := DecodeTensor(ap.T)
			if err != nil {
				return nil, fmt.Errorf("%v: attribute %q: %w", n, a.Name, err)
			}
			a.T = t
		}
		if ap.Type == nil { // IR version < 3 style: infer the type from the set field.
			switch {
			case ap.T != nil:
				a.Type = onnxpb.AttributeProto_TENSOR
			case len(ap.Ints) > 0:
				a.Type = onnxpb.AttributeProto_INTS
			case len(ap.Floats) > 0:
				a.Type = onnxpb.AttributeProto_FLOATS
			case ap.S != nil:
				a.Type = onnxpb.AttributeProto_STRING
			case ap.F != nil:
				a.Type = onnxpb.AttributeProto_FLOAT
			case ap.I != nil:
				a.Type = onnxpb.AttributeProto_INT
			}
		}
		n.Attrs[a.Name] = a
	}
	return n, nil
}
