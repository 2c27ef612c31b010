package predict

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/probs"
)

// evalBatch is the batch size Evaluate runs a model with when its batch dimension is dynamic.
const evalBatch = 256

// What a classifier's output holds, as recorded by export in OutputMetadata.
const (
	Logits        = "logits"
	Probabilities = "probabilities"
	// OutputMetadata is the metadata_props key under which an exported model records whether its
	// output holds Logits or Probabilities (export.MetadataOutput).
	OutputMetadata = "xreg.export.output"
)

// Evaluation is what a classifier outputs on a data set.
type Evaluation struct {
	// Output is the name of the model output that was read: the first one.
	Output string
	// Scores holds the output as computed, one row per example, one column per class.
	Scores [][]float64
	// Probabilities are the class probabilities: Scores itself when the output holds probabilities
	// (SoftmaxApplied false), otherwise the row-wise softmax of Scores.
	Probabilities  [][]float64
	SoftmaxApplied bool
}

// Evaluate runs model, a serialised ONNX classifier (any, not only an export; name identifies it in
// errors), in onnxruntime over set and returns its first output. kind says what the output holds
// (Logits or Probabilities); "" decides it as described below. The model must have one float32
// input of shape [N, example…] and a float32 first output with one row of class scores per
// example; the examples are reshaped to the model's per-example shape when it is static and holds
// as many values. Whether the output holds probabilities is read from the MetadataOutput entry of
// an export (OutputMetadata), and otherwise decided from the values: every row a probability vector
// (probs.Check). A model with a fixed batch size is run with that size (the last batch padded).
func Evaluate(model []byte, name string, set *dataset.Set, kind string) (*Evaluation, error) {
	ev, err := evaluate(model, name, set, kind)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return ev, nil
}

func evaluate(model []byte, name string, set *dataset.Set, kind string) (*Evaluation, error) {
	if kind != "" && kind != Logits && kind != Probabilities {
		return nil, fmt.Errorf("evaluate %s: output kind %q is not %s or %s", name, kind, Logits, Probabilities)
	}
	if set == nil {
		return nil, fmt.Errorf("evaluate %s: no data", name)
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("evaluate %s: %w", name, err)
	}
	if kind == "" {
		var mp onnxpb.ModelProto
		if err := proto.Unmarshal(model, &mp); err == nil {
			for _, e := range mp.GetMetadataProps() {
				if e.GetKey() == OutputMetadata && (e.GetValue() == Logits || e.GetValue() == Probabilities) {
					kind = e.GetValue()
				}
			}
		}
	}
	sess, err := ort.OpenBytes(model, name, nil)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	defer sess.Close()
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 || ins[0].Type != "float32" || len(ins[0].Shape) == 0 {
		return nil, fmt.Errorf("evaluate %s: want one float32 input of shape [N, …], the model has %v", name, ins)
	}
	if len(outs) == 0 || outs[0].Type != "float32" {
		return nil, fmt.Errorf("evaluate %s: the first output must hold float32 class scores, the model has %v", name, outs)
	}
	in := ins[0]
	example, err := exampleShape(in, set)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s on %s: %w", name, set.Source, err)
	}
	batch, fixed := evalBatch, false
	if in.Shape[0] > 0 {
		batch, fixed = int(in.Shape[0]), true
	}
	n, d := set.Len(), set.Dim()
	ev := &Evaluation{Output: outs[0].Name, Scores: make([][]float64, 0, n)}
	for from := 0; from < n; from += batch {
		count := min(batch, n-from)
		x := set.X[from*d : (from+count)*d]
		rows := count
		if fixed && count < batch {
			x = append(slices.Clone(x), make([]float32, (batch-count)*d)...)
			rows = batch
		}
		res, err := sess.Run(ort.Tensor{Name: in.Name, Shape: append([]int64{int64(rows)}, example...), Float32: x})
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		t := res[0]
		if len(t.Shape) == 0 || t.Shape[0] != int64(rows) {
			return nil, fmt.Errorf("evaluate %s: output %q has shape %v for a batch of %d; want one row per example",
				name, t.Name, t.Shape, rows)
		}
		c := len(t.Float32) / rows
		if c < 2 {
			return nil, fmt.Errorf("evaluate %s: output %q has %d value per example; a classifier needs one score per class",
				name, t.Name, c)
		}
		for i := range count {
			row := make([]float64, c)
			for j := range row {
				v := float64(t.Float32[i*c+j])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("evaluate %s: output %q is %v for example %d of %s", name, t.Name, v, from+i, set.Source)
				}
				row[j] = v
			}
			ev.Scores = append(ev.Scores, row)
		}
	}
	if c := len(ev.Scores[0]); set.Classes > c {
		return nil, fmt.Errorf("evaluate %s: the model scores %d classes, the data %s has %d", name, c, set.Source, set.Classes)
	}
	if kind == "" {
		kind = Logits
		if probs.AreDistributions(ev.Scores) {
			kind = Probabilities
		}
	}
	if kind == Probabilities {
		ev.Probabilities = ev.Scores
	} else {
		ev.SoftmaxApplied = true
		ev.Probabilities = make([][]float64, len(ev.Scores))
		for i, row := range ev.Scores {
			ev.Probabilities[i] = probs.Softmax(nil, row)
		}
	}
	return ev, nil
}

// exampleShape returns the per-example shape to run the model input with for the examples of set.
func exampleShape(in ort.Info, set *dataset.Set) ([]int64, error) {
	dims := in.Shape[1:]
	static := true
	size := int64(1)
	for _, v := range dims {
		static = static && v >= 0
		size *= v
	}
	if static {
		if size != int64(set.Dim()) {
			return nil, fmt.Errorf("model input %q takes examples of shape %v (%d values), the data's are %v (%d values)",
				in.Name, dims, size, set.Shape, set.Dim())
		}
		return slices.Clone(dims), nil
	}
	if len(dims) != len(set.Shape) {
		return nil, fmt.Errorf("model input %q takes examples of shape %v, the data's are %v", in.Name, dims, set.Shape)
	}
	out := make([]int64, len(dims))
	for i, v := range dims {
		if v >= 0 && v != int64(set.Shape[i]) {
			return nil, fmt.Errorf("model input %q takes examples of shape %v, the data's are %v", in.Name, dims, set.Shape)
		}
		out[i] = int64(set.Shape[i])
	}
	return out, nil
}
