package inject

import (
	"fmt"
	"math"
	"regexp"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// nonFloatOps produce values noise cannot go on (integers, booleans, shapes) or hold constants.
var nonFloatOps = map[string]bool{
	"Constant": true, "ConstantOfShape": true, "Shape": true, "Size": true, "ArgMax": true, "ArgMin": true,
	"NonZero": true, "Equal": true, "Less": true, "LessOrEqual": true, "Greater": true, "GreaterOrEqual": true,
	"Not": true, "And": true, "Or": true, "Xor": true, "IsNaN": true, "IsInf": true, "Cast": true, "Range": true,
	"RandomNormalLike": true, "RandomUniformLike": true, "RandomNormal": true, "RandomUniform": true,
}

// findAtPoints returns the nodes whose op type or name at matches, in graph order: noise goes after
// any of them, for models without normalization (a BN-free VGG, AlexNet, SqueezeNet). A Dropout
// node becomes a Gaussian-dropout point (see dropoutSigma). A match whose output is not a float
// activation is refused.
func findAtPoints(g *onnximport.Graph, at *regexp.Regexp) ([]*point, error) {
	var out []*point
	for _, n := range g.Nodes {
		if !at.MatchString(n.OpType) && !at.MatchString(n.Name) {
			continue
		}
		if nonFloatOps[n.OpType] {
			return nil, optionErr("At", at.String(), "selects %v, whose output is not a float activation", n)
		}
		p := &point{node: n, op: n.OpType, norm: n, generic: true}
		if n.OpType == "Dropout" {
			sigma, err := dropoutSigma(g, n)
			if err != nil {
				return nil, err
			}
			p.logSigma0 = math.Log(sigma)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, optionErr("At", at.String(), "matches no node's op type or name")
	}
	return out, nil
}

// dropoutInferenceForm rewrites a Dropout that becomes a Gaussian-dropout point into its inference
// form when it is in training form (a training_mode input, a mask output: a model exported from
// train()): the learned noise after it is the dropout now, and the executor does not draw a
// training-mode Dropout's random mask. Export writes every training-form node this way too. A mask
// that something reads is refused.
func (ed *editor) dropoutInferenceForm(n *onnximport.Node) error {
	p := ed.NodeProto(n)
	if len(p.Output) > 1 && p.Output[1] != "" {
		mask := p.Output[1]
		if cs := ed.m.Graph.Consumers[mask]; len(cs) > 0 {
			return fmt.Errorf("%v: its mask %q is read by %v: a Gaussian-dropout point cannot replace it", n, mask, cs[0])
		}
		for _, o := range ed.m.Graph.Outputs {
			if o.Name == mask {
				return fmt.Errorf("%v: its mask %q is a graph output: a Gaussian-dropout point cannot replace it", n, mask)
			}
		}
	}
	if len(p.Input) > 2 {
		p.Input = p.Input[:2]
	}
	if len(p.Output) > 1 {
		p.Output = p.Output[:1]
	}
	return nil
}

// dropoutSigma returns the σ of the Gaussian dropout equivalent to a Dropout node's rate p:
// multiplicative noise x·(1 + σε) with σ² = p/(1 − p) has the mean and variance of dropout
// x·m/(1 − p), m ~ Bernoulli(1 − p) (Wang & Manning 2013; Srivastava et al. 2014). The rate is the
// ratio attribute (opset < 12) or the constant second input, 0.5 when absent; the learned σ reads
// back as the rate σ²/(1 + σ²).
func dropoutSigma(g *onnximport.Graph, n *onnximport.Node) (float64, error) {
	p := float64(n.Float("ratio", 0.5))
	if n.Input(1) != "" {
		t, ok := g.ConstValue(n.Input(1))
		if !ok || t.Size() != 1 {
			return 0, fmt.Errorf("%v: its ratio %q is not a constant scalar", n, n.Input(1))
		}
		p = float64(t.Floats()[0])
	}
	if !(p > 0 && p < 1) {
		return 0, fmt.Errorf("%v: dropout ratio %v: a Gaussian-dropout point needs a ratio in (0, 1)", n, p)
	}
	return math.Sqrt(p / (1 - p)), nil
}

// DropoutRate returns the dropout rate p = σ²/(1 + σ²) that multiplicative Gaussian noise of scale
// σ matches.
func DropoutRate(sigma float64) float64 { return sigma * sigma / (1 + sigma*sigma) }
