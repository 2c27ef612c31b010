package inject

import (
	"fmt"
	"math"
	"slices"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// KindNorm is a learnable weight norm (Options.Norm): the reg is log ρ, and the weight tensor W of
// the selected node is read as ρ·W/‖W‖ (Brito 2025, §3.2). Training moves W (a param, θ) only in
// directions that change its direction, the regularization set moves ρ.
const KindNorm = "norm"

// NormL2 is the Euclidean norm of the whole weight tensor, the only norm Apply puts into a graph.
const NormL2 = "l2"

// weightOps are the ops whose weight (input 1) can carry a learnable norm.
var weightOps = []string{"Conv", "Gemm", "MatMul"}

// weightNode is a node whose input 1 is a float32 initializer.
type weightNode struct {
	node   *onnximport.Node
	weight string
}

// findWeights returns the Conv, Gemm and MatMul nodes of g whose weight (input 1) is a float32
// initializer, in topological order.
func findWeights(g *onnximport.Graph) []weightNode {
	var out []weightNode
	for _, n := range g.Nodes {
		if !slices.Contains(weightOps, n.OpType) {
			continue
		}
		w := n.Input(1)
		if t, ok := g.Initializers[w]; ok && t.DType == onnximport.Float32 {
			out = append(out, weightNode{node: n, weight: w})
		}
	}
	return out
}

func describeWeights(ws []weightNode) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = fmt.Sprintf("%s %s", w.node.Name, w.node.OpType)
	}
	return shorten(names, 4)
}

// addNorm makes w's node read ρ·W/‖W‖ instead of W, with log ρ a new reg initialised to log ‖W‖
// (so the model computes what it computed before). ‖W‖ is written sqrt(ReduceMean(W·W))·√n with n
// the number of elements, with ops the trainer's executor and onnxruntime both run.
func (ed *editor) addNorm(w weightNode) (*Reg, error) {
	g := ed.m.Graph
	t := g.Initializers[w.weight]
	if readers := g.Consumers[w.weight]; len(readers) != 1 {
		return nil, fmt.Errorf("%v: its weight %q is read by %d nodes; a learnable norm needs a weight of its own", w.node, w.weight, len(readers))
	}
	if ed.isGraphOutput(w.weight) {
		return nil, fmt.Errorf("%v: its weight %q is a graph output", w.node, w.weight)
	}
	var ss float64
	for _, v := range t.Float {
		ss += float64(v) * float64(v)
	}
	if !(ss > 0) || math.IsInf(ss, 0) {
		return nil, fmt.Errorf("%v: weight %q has norm %v; a learnable norm needs a finite non-zero weight", w.node, w.weight, math.Sqrt(ss))
	}
	logRho := float32(0.5 * math.Log(ss))
	base := cleanName(w.node.Name)
	param := ed.initializer("xreg.norm."+base+".log_rho", []int{1}, logRho)
	prefix := "xreg/norm/" + base
	sq := ed.node(prefix+"/sq", "Mul", []string{w.weight, w.weight})
	meanSq := ed.node(prefix+"/mean_sq", "ReduceMean", []string{sq}) // all axes, keepdims
	rms := ed.node(prefix+"/rms", "Sqrt", []string{meanSq})
	rho := ed.node(prefix+"/rho", "Exp", []string{param})
	invSqrtN := ed.constant(prefix+"/inv_sqrt_n", onnximport.NewFloatTensor("", []int{1}, []float32{float32(1 / math.Sqrt(float64(t.Size())))}))
	perRMS := ed.node(prefix+"/rho_rms", "Div", []string{rho, rms})
	scale := ed.node(prefix+"/scale", "Mul", []string{perRMS, invSqrtN})
	out := ed.node(prefix+"/weight", "Mul", []string{w.weight, scale})
	nodes, names := ed.take()
	ed.Rewire(w.weight, out)
	ed.Front(nodes...)
	return &Reg{
		Name: param, Kind: KindNorm, Mode: NormL2, Point: w.node.Name, Op: w.node.OpType,
		Value: w.weight, Output: out, Shape: slices.Clone(t.Dims), Init: float64(logRho), Nodes: names,
	}, nil
}
