package predict

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/probs"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// shapeError marks errors caused by the caller's input shape (HTTP 422), not by the model or server.
type shapeError struct{ err error }

func (e *shapeError) Error() string { return e.err.Error() }
func (e *shapeError) Unwrap() error { return e.err }

// Result holds the class probabilities of one batch.
type Result struct {
	// Output is the name of the model output the probabilities come from.
	Output string `json:"output"`
	// Probabilities has one row per example, one column per class.
	Probabilities [][]float64 `json:"probabilities"`
	// Classes holds each row's most probable class (the first one on ties).
	Classes []int `json:"classes"`
	// SoftmaxApplied is false when the model output already was probabilities.
	SoftmaxApplied bool `json:"softmax_applied"`
}

// Predictor runs a single-input float32 classifier. It is safe for concurrent use; runs are
// serialised.
type Predictor struct {
	sess *ort.Session
	in   ort.Info
	out  ort.Info
	sem  chan struct{}
	// pre is how images become inputs (SetPreprocess); nil: scaled to the model's size, [0, 1].
	pre *preprocess.Spec
}

// SetPreprocess sets how images posted to the Handler become model inputs (see ImageInput).
func (p *Predictor) SetPreprocess(s *preprocess.Spec) { p.pre = s }

// New wraps a session. The model must have exactly one input, of element type float32, and its
// first output must be float32. The Predictor does not own the session: close it after use.
func New(s *ort.Session) (*Predictor, error) {
	ins, outs := s.Inputs(), s.Outputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("predict: model %s has %d inputs (%s); only single-input models are supported", s.Name(), len(ins), infoList(ins))
	}
	if ins[0].Type != "float32" {
		return nil, fmt.Errorf("predict: model %s: input %s: only float32 inputs are supported", s.Name(), ins[0])
	}
	if len(outs) == 0 || outs[0].Type != "float32" {
		return nil, fmt.Errorf("predict: model %s: the first output must be float32 scores (outputs: %s)", s.Name(), infoList(outs))
	}
	return &Predictor{sess: s, in: ins[0], out: outs[0], sem: make(chan struct{}, 1)}, nil
}

func infoList(infos []ort.Info) string {
	parts := make([]string, len(infos))
	for i, info := range infos {
		parts[i] = info.String()
	}
	return strings.Join(parts, ", ")
}

// Input describes the model input.
func (p *Predictor) Input() ort.Info { return p.in }

// Model returns the model's name (its path, or the name given to ort.OpenBytes).
func (p *Predictor) Model() string { return p.sess.Name() }

// Predict fits data of the given shape to the model input (see FitShape), runs the model and
// returns the probabilities of its first output. It waits for runs in flight, or for ctx.
func (p *Predictor) Predict(ctx context.Context, data []float32, shape []int64) (*Result, error) {
	fitted, err := FitShape(p.in, shape)
	if err != nil {
		return nil, &shapeError{err}
	}
	if n := numel(fitted); n != int64(len(data)) {
		return nil, &shapeError{fmt.Errorf("predict: shape %v needs %d values, got %d", shape, n, len(data))}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("predict: waiting to run: %w", context.Cause(ctx))
	}
	outs, err := p.sess.Run(ort.Tensor{Name: p.in.Name, Shape: fitted, Float32: data})
	<-p.sem
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	rows, applied, err := probabilities(outs[0])
	if err != nil {
		return nil, fmt.Errorf("predict: model %s: %w", p.sess.Name(), err)
	}
	r := &Result{Output: outs[0].Name, Probabilities: rows, SoftmaxApplied: applied, Classes: make([]int, len(rows))}
	for i, row := range rows {
		r.Classes[i] = probs.Argmax(row)
	}
	return r, nil
}

// FitShape returns the shape to run the model input with for data of the given shape: the shape
// itself when it fits the input, or shape with a leading 1 when it is one example and the input's
// batch dimension is dynamic or 1. Otherwise the error names the expected shape.
func FitShape(in ort.Info, shape []int64) ([]int64, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("predict: negative dimension in shape %v", shape)
		}
	}
	if fits(in.Shape, shape) {
		return slices.Clone(shape), nil
	}
	if len(in.Shape) >= 1 && (in.Shape[0] == -1 || in.Shape[0] == 1) && fits(in.Shape[1:], shape) {
		return append([]int64{1}, shape...), nil
	}
	want := formatShape(in.Shape, true)
	if len(in.Shape) >= 1 && (in.Shape[0] == -1 || in.Shape[0] == 1) {
		want += " (or " + formatShape(in.Shape[1:], false) + " for one example)"
	}
	return nil, fmt.Errorf("predict: input shape %v does not match model input %q: want %s", shape, in.Name, want)
}

func fits(model, shape []int64) bool {
	if len(model) != len(shape) {
		return false
	}
	for i, d := range model {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}

// formatShape writes a model shape with "N" for a dynamic batch (first) dimension and "?" for other
// dynamic ones: [N 1 28 28].
func formatShape(s []int64, batch bool) string {
	parts := make([]string, len(s))
	for i, d := range s {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i == 0 && batch:
			parts[i] = "N"
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// numel returns the number of elements of a shape, or -1 if a dimension is negative or the
// product overflows int64.
func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt64/d) {
			return -1
		}
		n *= d
	}
	return n
}

// probabilities splits a score tensor into rows (the first dimension; a vector is one row) and
// returns them as probabilities: unchanged when every row already is a probability vector,
// otherwise softmaxed (applied = true).
func probabilities(t ort.Tensor) (rows [][]float64, applied bool, err error) {
	if len(t.Shape) == 0 {
		return nil, false, fmt.Errorf("output %q is a scalar, not class scores", t.Name)
	}
	n, c := int64(1), numel(t.Shape)
	if len(t.Shape) > 1 {
		n, c = t.Shape[0], numel(t.Shape[1:])
	}
	if c == 0 {
		return nil, false, fmt.Errorf("output %q of shape %v has no classes", t.Name, t.Shape)
	}
	rows = make([][]float64, n)
	for i := range rows {
		row := make([]float64, c)
		for j := range row {
			v := float64(t.Float32[int64(i)*c+int64(j)])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false, fmt.Errorf("output %q row %d holds %v", t.Name, i, v)
			}
			row[j] = v
		}
		rows[i] = row
	}
	if probs.AreDistributions(rows) {
		return rows, false, nil
	}
	for _, row := range rows {
		probs.Softmax(row, row)
	}
	return rows, true, nil
}

// TopK returns the indices of the k largest values of p, largest first (lower index first on ties).
// k is clipped to len(p).
func TopK(p []float64, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	return idx[:max(0, min(k, len(idx)))]
}
