package inject

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// editor adds nodes and initializers to a copy of m's protobuf (onnximport.Editor), reading the
// graph through m. The nodes it builds are collected until take hands them over for placing.
type editor struct {
	*onnximport.Editor
	m *onnximport.Model
	// pending are the nodes added since the last take.
	pending []*onnxpb.NodeProto
	// err is the first error met while adding (reported by finish).
	err error
}

func newEditor(m *onnximport.Model) *editor {
	return &editor{Editor: m.Edit(), m: m}
}

// node adds a node whose single output value has the node's (unique) name, and returns that name.
func (ed *editor) node(name, op string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	n := ed.Node(name, op, inputs, "", attrs...)
	ed.pending = append(ed.pending, n)
	return n.GetName()
}

// constant adds a Constant node holding t.
func (ed *editor) constant(name string, t *onnximport.Tensor) string {
	tp, err := t.Encode()
	if err != nil && ed.err == nil {
		ed.err = fmt.Errorf("constant %s: %w", name, err)
	}
	return ed.node(name, "Constant", nil, onnximport.AttrTensor("value", tp))
}

// initializer adds a float32 initializer filled with v and returns its (unique) name.
func (ed *editor) initializer(name string, dims []int, v float32) string {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = v
	}
	t := onnximport.NewFloatTensor(name, dims, data)
	if _, err := ed.Initializer(t); err != nil && ed.err == nil {
		ed.err = err
	}
	return t.Name
}

// take returns the nodes added since the last take and their names.
func (ed *editor) take() ([]*onnxpb.NodeProto, []string) {
	nodes := ed.pending
	ed.pending = nil
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.GetName()
	}
	return nodes, names
}

func (ed *editor) isGraphOutput(v string) bool {
	for _, o := range ed.m.Graph.Outputs {
		if o.Name == v {
			return true
		}
	}
	return false
}

// addNoise inserts the noise subgraph after p and returns its reg. With placement PreAffine the
// normalization node loses its affine part, which is applied after the noise (splitAffine).
func (ed *editor) addNoise(p *point, s *settings, shapes map[string][]int) (*Reg, error) {
	var split *affineSplit
	if s.placement == PreAffine && !p.generic {
		if p.op == opDecomposedLN {
			p.node = p.norm // the noise goes on the Div, before the affine Mul/Add
		}
		var err error
		if split, err = planAffine(ed.m.Graph, p, shapes); err != nil {
			return nil, err
		}
	}
	v := p.node.Outputs[0]
	if ed.isGraphOutput(v) {
		skip := ""
		if s.skip != nil {
			skip = s.skip.String()
		}
		return nil, optionErr("Skip", skip, "%v: its output %q is a graph output, so noise there would make the model's output itself random; "+
			"leave the node out with this pattern", p.node, v)
	}
	dims := []int{1}
	if s.gran == Channel {
		var err error
		if dims, err = channelDims(ed.m.Graph, p, shapes); err != nil {
			return nil, err
		}
	}
	base := cleanName(p.node.Name)
	logSigma0, mode, placement := s.logSigma0, s.mode, s.placement
	if p.generic {
		placement = "" // no affine part to place the noise around
	}
	if p.op == "Dropout" {
		mode = Multiplicative // Gaussian dropout
		if !s.sigma0Set {
			logSigma0 = p.logSigma0
		}
	}
	param := ed.initializer("xreg.noise."+base+".log_sigma", dims, float32(logSigma0))
	prefix := "xreg/noise/" + base
	eps := ed.node(prefix+"/eps", "RandomNormalLike", []string{v}, onnximport.AttrFloat("mean", 0), onnximport.AttrFloat("scale", 1))
	sigma := ed.node(prefix+"/sigma", "Exp", []string{param})
	noise := ed.node(prefix+"/sigma_eps", "Mul", []string{eps, sigma})
	if mode == Multiplicative {
		noise = ed.node(prefix+"/x_sigma_eps", "Mul", []string{v, noise})
	}
	out := ed.node(prefix+"/out", "Add", []string{v, noise})
	var affine *Affine
	if split != nil {
		out, affine = ed.splitAffine(split, "xreg/affine/"+base, out)
	}
	nodes, names := ed.take()
	ed.Rewire(v, out)
	ed.After(v, nodes...)
	return &Reg{
		Name: param, Kind: KindNoise, Mode: mode, Granularity: s.gran, Placement: placement,
		Point: p.node.Name, Op: p.op, Value: v, Output: out, Shape: slices.Clone(shapes[v]),
		Init: float64(float32(logSigma0)), Nodes: names, Affine: affine,
	}, nil
}

// channelDims returns the shape of a per-channel log σ for p: [C, 1, …, 1] (channel axis 1) for
// batch, instance and group norm, the normalized trailing shape for layer norms.
func channelDims(g *onnximport.Graph, p *point, shapes map[string][]int) ([]int, error) {
	x := shapes[p.norm.Input(0)]
	if x == nil || p.generic {
		x = shapes[p.node.Outputs[0]]
	}
	var dims []int
	op := p.op
	if p.generic {
		op = "BatchNormalization" // any node: channels on axis 1, as for batch norm
	}
	switch op {
	case "BatchNormalization", "InstanceNormalization", "GroupNormalization":
		c := -1
		if len(x) >= 2 {
			c = x[1]
		}
		if t, ok := g.ConstValue(p.norm.Input(1)); ok && !p.generic && p.op != "GroupNormalization" && len(t.Dims) == 1 {
			c = t.Dims[0] // the scale has one value per channel
		}
		if x == nil || len(x) < 2 || c <= 0 {
			return nil, optionErr("Granularity", Channel, "%v: needs the rank and channel count of its input %q, which could not be inferred",
				p.norm, p.norm.Input(0))
		}
		dims = append([]int{c}, ones(len(x)-2)...)
	case "LayerNormalization":
		if t, ok := g.ConstValue(p.norm.Input(1)); ok && len(t.Dims) > 0 {
			return append([]int{}, t.Dims...), nil // Scale has the normalized shape
		}
		axis := int(p.norm.Int("axis", -1))
		if x != nil && axis < 0 {
			axis += len(x)
		}
		if x == nil || axis < 0 || axis >= len(x) {
			return nil, optionErr("Granularity", Channel, "%v: needs the shape of its input %q, which could not be inferred", p.norm, p.norm.Input(0))
		}
		dims = slices.Clone(x[axis:])
	default: // decomposed layer norm: the reduced axes must be trailing
		if x == nil {
			return nil, optionErr("Granularity", Channel, "%v: needs the shape of its input %q, which could not be inferred", p.norm, p.norm.Input(0))
		}
		r := len(x)
		seen := map[int]bool{}
		for _, a := range p.axes {
			if a < 0 {
				a += int64(r)
			}
			seen[int(a)] = true
		}
		first := r - len(p.axes)
		for i := first; i < r; i++ {
			if !seen[i] {
				return nil, optionErr("Granularity", Channel, "%v: supports layer norms over trailing axes; this one reduces axes %v of a rank-%d input",
					p.norm, p.axes, r)
			}
		}
		dims = slices.Clone(x[first:])
	}
	for _, d := range dims {
		if d <= 0 {
			return nil, optionErr("Granularity", Channel, "%v: needs static channel sizes; its input %q has shape %s",
				p.norm, p.norm.Input(0), formatShape(x))
		}
	}
	return dims, nil
}

func ones(n int) []int {
	out := make([]int, max(n, 0))
	for i := range out {
		out[i] = 1
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

// cleanName turns a node name into the readable part of a parameter name: "/block1/bn1/BatchNorm"
// becomes "block1.bn1.BatchNorm".
func cleanName(s string) string {
	s = strings.Trim(unsafeChars.ReplaceAllString(s, "."), ".")
	if s == "" {
		return "node"
	}
	return s
}
