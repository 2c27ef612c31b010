package export

import (
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// strip removes through ed (an editor of m) every node the regs list, makes their readers read the
// original values again, and drops the initializers only the removed nodes read, the regs'
// parameters, the value_info of removed values and the regs metadata. It returns the names of the
// removed nodes and initializers.
func strip(m *onnximport.Model, ed *onnximport.Editor, regs []inject.Reg) (nodes, inits []string, err error) {
	g, mp := m.Graph, ed.Proto()
	byName := map[string]*onnximport.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	remove := map[string]bool{}   // node names
	produced := map[string]bool{} // values the removed nodes produce
	for _, r := range regs {
		for _, name := range r.Nodes {
			n, ok := byName[name]
			if !ok {
				return nil, nil, fmt.Errorf("%s: node %q listed in the %s metadata is missing (was the model edited after injection?)",
					r.Name, name, inject.MetadataRegs)
			}
			if !remove[name] {
				remove[name] = true
				nodes = append(nodes, name)
			}
			for _, o := range n.Outputs {
				if o != "" {
					produced[o] = true
				}
			}
		}
	}
	restore := map[string][]string{} // node name → original inputs (pre-affine splits)
	for _, r := range regs {
		if r.Affine == nil {
			continue
		}
		n, ok := byName[r.Affine.Node]
		if !ok || remove[r.Affine.Node] {
			return nil, nil, fmt.Errorf("%s: normalization node %q whose affine part inject moved is missing (was the model edited after injection?)",
				r.Name, r.Affine.Node)
		}
		if len(r.Affine.Inputs) != len(n.Inputs) {
			return nil, nil, fmt.Errorf("%s: node %q has %d inputs, but %d when injected (was the model edited after injection?)",
				r.Name, r.Affine.Node, len(n.Inputs), len(r.Affine.Inputs))
		}
		restore[r.Affine.Node] = r.Affine.Inputs
	}
	rename := map[string]string{}
	for _, r := range regs {
		if !produced[r.Output] {
			return nil, nil, fmt.Errorf("%s: its output value %q is not produced by the nodes the %s metadata lists for it",
				r.Name, r.Output, inject.MetadataRegs)
		}
		if _, isInput := g.Input(r.Value); !isInput && g.Producer[r.Value] == nil && g.Initializers[r.Value] == nil && !produced[r.Value] {
			return nil, nil, fmt.Errorf("%s: the regularized value %q recorded in the %s metadata does not exist in the model",
				r.Name, r.Value, inject.MetadataRegs)
		}
		rename[r.Output] = r.Value
	}
	resolve := func(v string) string {
		for range len(rename) + 1 {
			to, ok := rename[v]
			if !ok {
				return v
			}
			v = to
		}
		return v // a cycle cannot come from inject; leave it for validation to report
	}

	// Nodes.
	candidates := map[string]bool{} // initializers the removed nodes read
	for _, r := range regs {
		candidates[r.Name] = true
	}
	kept := make([]*onnxpb.NodeProto, 0, len(mp.Graph.Node))
	byIndex := make([]*onnximport.Node, len(g.Nodes))
	for _, n := range g.Nodes {
		byIndex[n.Index] = n
	}
	for _, n := range byIndex { // file order
		np := ed.NodeProto(n)
		if remove[n.Name] {
			ed.Remove(n)
			for _, in := range np.GetInput() {
				if _, ok := g.Initializers[in]; ok {
					candidates[in] = true
				}
			}
			continue
		}
		if in, ok := restore[np.GetName()]; ok {
			np.Input = append([]string(nil), in...) // the user's node again, reading the trained γ and β
		}
		for j, in := range np.Input {
			if to := resolve(in); to != in {
				np.Input[j] = to
			} else if produced[in] {
				return nil, nil, fmt.Errorf("node %q reads %q, which an injected node computes and no reg replaces "+
					"(was the model edited after injection?)", np.GetName(), in)
			}
		}
		kept = append(kept, np)
	}

	// Graph outputs read what the removed nodes replaced.
	for _, o := range mp.Graph.Output {
		if to := resolve(o.GetName()); to != o.GetName() {
			o.Name = &to
		} else if produced[o.GetName()] {
			return nil, nil, fmt.Errorf("graph output %q is computed by an injected node", o.GetName())
		}
	}

	// Initializers no remaining node or graph output reads.
	used := map[string]bool{}
	for _, np := range kept {
		for _, in := range np.GetInput() {
			used[in] = true
		}
	}
	for _, o := range mp.Graph.Output {
		used[o.GetName()] = true
	}
	dropped := map[string]bool{}
	keptInits := mp.Graph.Initializer[:0]
	for _, t := range mp.Graph.Initializer {
		if candidates[t.GetName()] && !used[t.GetName()] {
			dropped[t.GetName()] = true
			inits = append(inits, t.GetName())
			continue
		}
		keptInits = append(keptInits, t)
	}
	mp.Graph.Initializer = keptInits
	mp.Graph.Input = filterValues(mp.Graph.Input, dropped, nil)
	mp.Graph.ValueInfo = filterValues(mp.Graph.ValueInfo, dropped, produced)
	ed.DeleteMetadata(inject.MetadataRegs, inject.MetadataVersion)
	return nodes, inits, nil
}

// filterValues drops the value infos named in a or b.
func filterValues(vs []*onnxpb.ValueInfoProto, a, b map[string]bool) []*onnxpb.ValueInfoProto {
	out := vs[:0]
	for _, v := range vs {
		if !a[v.GetName()] && !b[v.GetName()] {
			out = append(out, v)
		}
	}
	return out
}
