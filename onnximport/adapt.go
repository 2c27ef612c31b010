package onnximport

import (
	"fmt"
)

// This file holds the op-version adapters: a node of an older opset is read into the form of the
// newest opset the executor knows, so that builders, inspection and shape inference handle one
// form per op. Only the graph view (Node.Inputs, Node.Attrs, Node.OpType) changes: the model's
// protobuf keeps the original node, so a written model keeps its opset and nodes. An attribute
// that newer opsets take as an input becomes a synthesized constant (Graph.Constants), named
// after the node.

// adaptNode rewrites n (read at the model's opset) into the newest form; g receives the
// synthesized constants.
func adaptNode(g *Graph, n *Node, opset int64) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil
	}
	switch n.OpType {
	case "Unsqueeze", "Squeeze":
		if opset < 13 {
			return attrToInput(g, n, "axes", 1, Int64)
		}
	case "ReduceSum":
		if opset < 13 {
			return attrToInput(g, n, "axes", 1, Int64)
		}
	case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare":
		if opset < 18 {
			return attrToInput(g, n, "axes", 1, Int64)
		}
	case "Split":
		if opset < 13 {
			return attrToInput(g, n, "split", 1, Int64)
		}
	case "Slice":
		if opset < 10 {
			for i, a := range []string{"starts", "ends", "axes"} {
				if err := attrToInput(g, n, a, i+1, Int64); err != nil {
					return err
				}
			}
		}
	case "Pad":
		if opset < 11 {
			if err := attrToInput(g, n, "pads", 1, Int64); err != nil {
				return err
			}
			if n.Has("value") {
				t := &Tensor{DType: Float32, Dims: []int{}, Float: []float32{n.Float("value", 0)}}
				setInput(g, n, 2, "value", t)
				delete(n.Attrs, "value")
			}
		}
	case "Clip":
		if opset < 11 {
			for i, a := range []string{"min", "max"} {
				if n.Has(a) {
					t := &Tensor{DType: Float32, Dims: []int{}, Float: []float32{n.Float(a, 0)}}
					setInput(g, n, i+1, a, t)
					delete(n.Attrs, a)
				}
			}
		}
	case "BatchNormalization":
		// Opsets < 9: spatial=1 is the only form with per-channel statistics (spatial=0 keeps
		// per-element ones); is_test and consumed_inputs are legacy bookkeeping.
		if opset < 9 && n.Int("spatial", 1) != 1 {
			return fmt.Errorf("%v: attribute spatial=0 (per-element statistics) is not supported", n)
		}
		delete(n.Attrs, "spatial")
		delete(n.Attrs, "is_test")
		delete(n.Attrs, "consumed_inputs")
	case "Dropout":
		// Opsets < 12 hold the ratio as an attribute (and < 7 an is_test flag); inference ignores it.
		delete(n.Attrs, "ratio")
		delete(n.Attrs, "is_test")
	case "Upsample":
		// Upsample (opsets 7–9) is Resize with scales: opset 7 as an attribute, 9 as input 1.
		mode := n.Str("mode", "nearest")
		n.OpType = "Resize"
		scalesName := n.Input(1)
		var scales *Tensor
		if a, ok := n.Attrs["scales"]; ok {
			scales = &Tensor{DType: Float32, Dims: []int{len(a.Floats)}, Float: a.Floats}
			delete(n.Attrs, "scales")
		}
		n.Inputs = []string{n.Input(0), ""}
		if scales != nil {
			setInput(g, n, 2, "scales", scales)
		} else {
			n.Inputs = append(n.Inputs, scalesName)
		}
		n.Attrs["coordinate_transformation_mode"] = &Attr{Name: "coordinate_transformation_mode", S: "asymmetric"}
		if mode == "nearest" {
			n.Attrs["nearest_mode"] = &Attr{Name: "nearest_mode", S: "floor"}
		} else {
			n.Attrs["mode"] = &Attr{Name: "mode", S: mode}
		}
	case "Resize":
		// Opset 10: (X, scales), asymmetric coordinates with floor rounding for nearest.
		if opset < 11 {
			n.Inputs = []string{n.Input(0), "", n.Input(1)}
			n.Attrs["coordinate_transformation_mode"] = &Attr{Name: "coordinate_transformation_mode", S: "asymmetric"}
			if n.Str("mode", "nearest") == "nearest" {
				n.Attrs["nearest_mode"] = &Attr{Name: "nearest_mode", S: "floor"}
			}
		}
	}
	return nil
}

// attrToInput moves an INTS attribute to input i as an int constant (absent attribute: absent
// input).
func attrToInput(g *Graph, n *Node, attr string, i int, dt DType) error {
	a, ok := n.Attrs[attr]
	if !ok {
		return nil
	}
	if n.Input(i) != "" {
		return fmt.Errorf("%v: has both attribute %s and input %d", n, attr, i)
	}
	t := &Tensor{DType: dt, Dims: []int{len(a.Ints)}, Int: append([]int64(nil), a.Ints...)}
	setInput(g, n, i, attr, t)
	delete(n.Attrs, attr)
	return nil
}

// setInput makes t a synthesized constant and n's i-th input.
func setInput(g *Graph, n *Node, i int, what string, t *Tensor) {
	name := fmt.Sprintf("%s::%s", n.Name, what)
	for g.Constants[name] != nil {
		name += "'"
	}
	t.Name = name
	g.Constants[name] = t
	// Copy before growing: Inputs may share the protobuf's slice.
	in := append([]string(nil), n.Inputs...)
	for len(in) <= i {
		in = append(in, "")
	}
	in[i] = name
	n.Inputs = in
}
