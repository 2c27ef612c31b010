package export

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// buildMC turns mp (whose graph is det, the deterministic export) into the Monte-Carlo ensemble of
// k frozen noise draws described in the package documentation. shapes are det's inferred shapes
// at batch 1.
func buildMC(ed *onnximport.Editor, det *onnximport.Model, regs []inject.Reg, learned []Learned,
	shapes map[string][]int, s *scores, k int, seed int64) error {
	g := det.Graph
	if len(g.Outputs) != 1 {
		return fmt.Errorf("the ensemble averages the one output of a classifier; the model has %d outputs", len(g.Outputs))
	}

	// Replicate every input k times along the batch axis.
	for _, in := range g.Inputs {
		if len(shapes[in.Name]) == 0 {
			return fmt.Errorf("the ensemble replicates the inputs along their batch axis 0; input %q is a scalar", in.Name)
		}
		copies := make([]string, k)
		for i := range copies {
			copies[i] = in.Name
		}
		tile := ed.Node("xreg/mc/tile", "Concat", copies, "", onnximport.AttrInt("axis", 0))
		ed.Rewire(in.Name, tile.GetOutput()[0])
		ed.Front(tile)
	}

	// Frozen noise at every noise point.
	rng := rand.New(rand.NewPCG(uint64(seed), MCStream))
	for i, r := range regs {
		if r.Kind != inject.KindNoise {
			continue
		}
		sh := shapes[r.Value]
		if len(sh) < 1 {
			return fmt.Errorf("the shape of %q (noise point %s) could not be inferred", r.Value, r.Point)
		}
		d := sh[1:]
		size := 1
		for _, v := range d {
			if v <= 0 {
				return fmt.Errorf("the ensemble needs static per-example shapes; %q (noise point %s) has shape %v", r.Value, r.Point, sh)
			}
			size *= v
		}
		idx := broadcastIndex(learned[i].Dims, d)
		sigma := learned[i].Sigma
		gamma, err := affineScale(g, r, d)
		if err != nil {
			return err
		}
		noise := make([]float32, k*size)
		for j := range noise {
			a := sigma[idx[j%size]] * rng.NormFloat64()
			if gamma != nil {
				a *= gamma[j%size]
			}
			if r.Mode == inject.Multiplicative {
				a = 1 + a
			}
			noise[j] = float32(a)
		}
		base := pointName(r)
		split := append([]int64{int64(k), -1}, ints64(d)...)
		merge := append([]int64{-1}, ints64(d)...)
		cn, err := ed.Initializer(onnximport.NewFloatTensor("xreg.mc."+base+".noise", append([]int{k, 1}, d...), noise))
		if err != nil {
			return fmt.Errorf("building the ensemble: %w", err)
		}
		sn, err := ed.Initializer(onnximport.NewIntTensor("xreg.mc."+base+".split", []int{len(split)}, split))
		if err != nil {
			return fmt.Errorf("building the ensemble: %w", err)
		}
		mn, err := ed.Initializer(onnximport.NewIntTensor("xreg.mc."+base+".merge", []int{len(merge)}, merge))
		if err != nil {
			return fmt.Errorf("building the ensemble: %w", err)
		}
		prefix := "xreg/mc/" + base
		op := "Add"
		if r.Mode == inject.Multiplicative {
			op = "Mul"
		}
		n1 := ed.Node(prefix+"/split", "Reshape", []string{r.Value, sn}, "")
		n2 := ed.Node(prefix+"/noise", op, []string{n1.GetOutput()[0], cn}, "")
		n3 := ed.Node(prefix+"/merge", "Reshape", []string{n2.GetOutput()[0], mn}, "")
		ed.Rewire(r.Value, n3.GetOutput()[0])
		ed.After(r.Value, n1, n2, n3)
	}

	// Average the k draws' probabilities at the output.
	sh := shapes[s.name]
	if len(sh) != 2 || sh[1] <= 0 {
		return fmt.Errorf("the ensemble needs class scores of shape [N, classes]; output %q has shape %v", s.name, sh)
	}
	internal := renameOutput(ed, s, "xreg/mc/scores")
	shape := []int64{int64(k), -1, int64(sh[1])}
	shn, err := ed.Initializer(onnximport.NewIntTensor("xreg.mc.draws", []int{3}, shape))
	if err != nil {
		return fmt.Errorf("building the ensemble: %w", err)
	}
	draws := ed.Node("xreg/mc/draws", "Reshape", []string{internal, shn}, "")
	nodes := []*onnxpb.NodeProto{draws}
	last := draws.GetOutput()[0]
	if !s.probs {
		sm := ed.Node("xreg/mc/softmax", "Softmax", []string{last}, "", onnximport.AttrInt("axis", 2))
		nodes = append(nodes, sm)
		last = sm.GetOutput()[0]
	}
	var mean *onnxpb.NodeProto
	if det.Opset >= 18 { // ReduceMean takes its axes as an input from opset 18
		an, err := ed.Initializer(onnximport.NewIntTensor("xreg.mc.axes", []int{1}, []int64{0}))
		if err != nil {
			return fmt.Errorf("building the ensemble: %w", err)
		}
		mean = ed.Node("xreg/mc/mean", "ReduceMean", []string{last, an}, s.name, onnximport.AttrInt("keepdims", 0))
	} else {
		mean = ed.Node("xreg/mc/mean", "ReduceMean", []string{last}, s.name, onnximport.AttrInts("axes", []int64{0}), onnximport.AttrInt("keepdims", 0))
	}
	ed.After(s.name, append(nodes, mean)...)

	// Inside the graph the batch is now k·N: forget fixed batch sizes declared for inner values.
	for _, vi := range ed.Proto().Graph.ValueInfo {
		if dims := vi.GetType().GetTensorType().GetShape().GetDim(); len(dims) > 0 && dims[0].GetDimParam() == "" {
			dims[0].Value = nil
		}
	}
	return nil
}

// affineScale returns, for a pre-affine noise point, the trained scale γ broadcast to the
// per-example shape d (row-major), so that the frozen draw added after the restored node is
// γ·σ·ε = γ·(x̂ + σε) + β − y; nil for a post-affine point.
func affineScale(g *onnximport.Graph, r inject.Reg, d []int) ([]float64, error) {
	if r.Affine == nil {
		return nil, nil
	}
	if r.Mode == inject.Multiplicative {
		return nil, fmt.Errorf("noise point %s is multiplicative and pre-affine; the frozen ensemble supports "+
			"pre-affine noise in additive mode only", r.Point)
	}
	if len(r.Affine.Inputs) < 2 {
		return nil, fmt.Errorf("noise point %s records no scale input of %q", r.Point, r.Affine.Node)
	}
	t, ok := g.ConstValue(r.Affine.Inputs[1])
	if !ok || t.DType != onnximport.Float32 {
		return nil, fmt.Errorf("the scale %q of %q (noise point %s) is not a float32 constant", r.Affine.Inputs[1], r.Affine.Node, r.Point)
	}
	dims, vals := t.Dims, t.Floats()
	if r.Op != "LayerNormalization" { // one γ per channel, channel axis 1 of the value
		if r.Op == "GroupNormalization" && len(d) > 0 && d[0] != t.Size() && t.Size() > 0 && d[0]%t.Size() == 0 {
			per := d[0] / t.Size() // opset-18 form: one γ per group
			perChannel := make([]float32, d[0])
			for c := range perChannel {
				perChannel[c] = vals[c/per]
			}
			vals = perChannel
		}
		dims = append([]int{len(vals)}, make([]int, len(d)-1)...)
		for i := 1; i < len(dims); i++ {
			dims[i] = 1
		}
	}
	if !broadcasts(dims, d) {
		return nil, fmt.Errorf("the scale %q of shape %v does not broadcast to %q of per-example shape %v",
			r.Affine.Inputs[1], t.Dims, r.Value, d)
	}
	idx := broadcastIndex(dims, d)
	out := make([]float64, len(idx))
	for j, at := range idx {
		out[j] = float64(vals[at])
	}
	return out, nil
}

// pointName is the readable part of a noise parameter's name: "xreg.noise.bn1.log_sigma" gives
// "bn1".
func pointName(r inject.Reg) string {
	s := strings.TrimSuffix(strings.TrimPrefix(r.Name, "xreg.noise."), ".log_sigma")
	if s == "" {
		return r.Name
	}
	return s
}

// broadcastIndex maps every element (row-major) of shape d to the element of a parameter of shape
// p that broadcasts to it (numpy rules, aligned on the right). p must broadcast to d.
func broadcastIndex(p, d []int) []int {
	for len(p) > len(d) { // leading ones
		p = p[1:]
	}
	off := len(d) - len(p)
	size := 1
	for _, v := range d {
		size *= v
	}
	out := make([]int, size)
	idx := make([]int, len(d))
	for j := range out {
		at, stride := 0, 1
		for a := len(p) - 1; a >= 0; a-- {
			if p[a] != 1 {
				at += idx[off+a] * stride
			}
			stride *= p[a]
		}
		out[j] = at
		for a := len(d) - 1; a >= 0; a-- { // next multi-index
			idx[a]++
			if idx[a] < d[a] {
				break
			}
			idx[a] = 0
		}
	}
	return out
}

func ints64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}
