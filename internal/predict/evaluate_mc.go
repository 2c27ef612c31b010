package predict

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// mcChunk is how many examples EvaluateMC runs per onnxruntime session (each replicated K times).
const mcChunk = 512

// IsStochastic reports whether a serialised ONNX model draws random numbers (RandomNormalLike,
// RandomUniformLike, RandomNormal or RandomUniform nodes in its main graph): an injected or trained
// model before export. It returns false for a model it cannot parse.
func IsStochastic(model []byte) bool {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(model, &mp); err != nil {
		return false
	}
	return len(randomNodes(&mp)) > 0
}

func randomNodes(mp *onnxpb.ModelProto) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range mp.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "RandomNormalLike", "RandomUniformLike", "RandomNormal", "RandomUniform":
			out = append(out, n)
		}
	}
	return out
}

// EvaluateMC evaluates a stochastic model (an injected or trained model, before export: its noise
// and augmentation are RandomNormalLike / RandomUniformLike nodes) by fresh Monte-Carlo averaging in
// onnxruntime: every example is replicated k times in the batch, so each copy gets its own noise
// draw, and the k copies' class probabilities are averaged. This is the prediction the
// regularization parameters are trained for (the regularization loss is the NLL of such an
// average), with new draws for every example — unlike the frozen ensemble of export.Options.MC, whose
// k draws are the same for every example.
//
// The draws are reproducible: the random nodes get seeds derived from seed, the node's position and
// the chunk of mcChunk examples being run (a new onnxruntime session per chunk). The result's
// Scores and Probabilities both hold the averaged probabilities. A model without random nodes is
// refused: its k passes would be identical.
func EvaluateMC(model []byte, name string, set *dataset.Set, k int, seed int64) (*Evaluation, error) {
	ev, err := evaluateMC(model, name, set, k, seed)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return ev, nil
}

func evaluateMC(model []byte, name string, set *dataset.Set, k int, seed int64) (*Evaluation, error) {
	if k <= 0 {
		return nil, fmt.Errorf("evaluate %s: --mc %d: want a positive number of draws", name, k)
	}
	if set == nil {
		return nil, fmt.Errorf("evaluate %s: no data", name)
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", name, err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(model, &mp); err != nil {
		return nil, fmt.Errorf("evaluate %s: not an ONNX model: %w", name, err)
	}
	random := randomNodes(&mp)
	if len(random) == 0 {
		return nil, fmt.Errorf("evaluate %s: --mc %d needs a stochastic model (injected or trained, before export); "+
			"this one has no random node, so its %d passes would be identical", name, k, k)
	}
	out := &Evaluation{}
	for from, chunk := 0, 0; from < set.Len(); from, chunk = from+mcChunk, chunk+1 {
		to := min(from+mcChunk, set.Len())
		idx := make([]int, 0, (to-from)*k)
		for i := from; i < to; i++ {
			for range k {
				idx = append(idx, i)
			}
		}
		for j, n := range random {
			setSeed(n, float32(seed*1_000_003+int64(chunk)*1009+int64(j)))
		}
		data, err := proto.Marshal(&mp)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", name, err)
		}
		ev, err := evaluate(data, name, set.Subset(idx), "")
		if err != nil {
			return nil, err
		}
		out.Output = ev.Output
		for i := 0; i < len(idx); i += k {
			avg := make([]float64, len(ev.Probabilities[i]))
			for _, row := range ev.Probabilities[i : i+k] {
				for c, p := range row {
					avg[c] += p / float64(k)
				}
			}
			for _, p := range avg {
				if math.IsNaN(p) {
					return nil, fmt.Errorf("evaluate %s: NaN probability for example %d of %s", name, from+i/k, set.Source)
				}
			}
			out.Probabilities = append(out.Probabilities, avg)
		}
	}
	out.Scores = out.Probabilities
	return out, nil
}

// setSeed sets (or adds) the float attribute "seed" of a random node.
func setSeed(n *onnxpb.NodeProto, seed float32) {
	for _, a := range n.Attribute {
		if a.GetName() == "seed" {
			a.F = proto.Float32(seed)
			return
		}
	}
	n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: proto.String("seed"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(seed)})
}
