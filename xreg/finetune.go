package xreg

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// frozenParams returns the params that stay fixed for a TrainConfig.Freeze spec: the spec selects the layers
// that keep training and everything else is frozen. "" freezes nothing; "head" trains the
// classifier head only; "last:N" trains the last N parameterised nodes; any other value is a
// regular expression over param names selecting the params that train. Regs are never
// frozen by it.
func frozenParams(m *onnximport.Model, params []string, isPhi map[string]bool, spec string) (map[string]bool, error) {
	bad := func(reason string, err error) error {
		return &ConfigError{Field: "Freeze", Value: fmt.Sprintf("%q", spec), Reason: reason, Err: err}
	}
	frozen := map[string]bool{}
	if spec == "" {
		return frozen, nil
	}
	train := map[string]bool{}
	switch {
	case spec == "head":
		head, err := headNode(m)
		if err != nil {
			return nil, bad("no classifier head", err)
		}
		for _, in := range head.Inputs {
			train[in] = true
		}
	case strings.HasPrefix(spec, "last:"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "last:"))
		if err != nil || n < 1 {
			return nil, bad("want last:N with N ≥ 1", nil)
		}
		isParam := map[string]bool{}
		for _, p := range params {
			isParam[p] = true
		}
		nodes := m.Graph.Nodes
		for i := len(nodes) - 1; i >= 0 && n > 0; i-- {
			has := false
			for _, in := range nodes[i].Inputs {
				if isParam[in] && !isPhi[in] {
					has = true
					train[in] = true
				}
			}
			if has {
				n--
			}
		}
	default:
		re, err := regexp.Compile(spec)
		if err != nil {
			return nil, bad("is not head, last:N or a valid regular expression", err)
		}
		for _, p := range params {
			if re.MatchString(p) {
				train[p] = true
			}
		}
		if len(train) == 0 {
			return nil, bad("matches no param", nil)
		}
	}
	for _, p := range params {
		if !train[p] && !isPhi[p] {
			frozen[p] = true
		}
	}
	return frozen, nil
}

// headNode returns the classifier head: the last Gemm or MatMul on the path to the first output.
func headNode(m *onnximport.Model) (*onnximport.Node, error) {
	g := m.Graph
	v := g.Outputs[0].Name
	for seen := 0; seen < len(g.Nodes); seen++ {
		p := g.Producer[v]
		if p == nil {
			break
		}
		if p.OpType == "Gemm" || p.OpType == "MatMul" {
			return p, nil
		}
		if len(p.Inputs) == 0 {
			break
		}
		// Follow the data input (the first input that is not an initializer).
		next := ""
		for _, in := range p.Inputs {
			if _, isInit := g.Initializers[in]; !isInit && in != "" {
				next = in
				break
			}
		}
		if next == "" {
			break
		}
		v = next
	}
	return nil, fmt.Errorf("no Gemm or MatMul classifier feeds output %q", g.Outputs[0].Name)
}

// ResetHead replaces the classifier head (a Gemm producing the first output) by a freshly
// initialised one with the given number of classes (PyTorch's nn.Linear initialisation,
// U(−1/√in, 1/√in) for weight and bias), and updates the output's declared shape.
// Its errors are *HeadError.
func ResetHead(m *onnximport.Model, classes int, seed int64) error {
	if err := resetHead(m, classes, seed); err != nil {
		return &HeadError{Classes: classes, Err: err}
	}
	return nil
}

// HeadError is a ResetHead failure: Classes is the width asked for, Err says why. The CLI maps it
// to its flag.
type HeadError struct {
	Classes int
	Err     error
}

func (e *HeadError) Error() string {
	return fmt.Sprintf("xreg: ResetHead to %d classes: %v", e.Classes, e.Err)
}

func (e *HeadError) Unwrap() error { return e.Err }

func resetHead(m *onnximport.Model, classes int, seed int64) error {
	if classes < 2 {
		return errors.New("need at least 2 classes")
	}
	head, err := headNode(m)
	if err != nil {
		return err
	}
	if head.OpType != "Gemm" || head.Int("transA", 0) != 0 {
		return fmt.Errorf("%v is not a Gemm with transA=0; only such heads can be reset", head)
	}
	return resetGemm(m, head, classes, seed)
}

func resetGemm(m *onnximport.Model, head *onnximport.Node, classes int, seed int64) error {
	g := m.Graph
	w, ok := g.Initializers[head.Input(1)]
	if !ok || len(w.Dims) != 2 {
		return fmt.Errorf("%v: weight %q is not a 2-D initializer", head, head.Input(1))
	}
	transB := head.Int("transB", 0) != 0
	in := w.Dims[0]
	dims := []int{in, classes}
	if transB {
		in = w.Dims[1]
		dims = []int{classes, in}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4ead))
	bound := 1 / math.Sqrt(float64(in))
	uniform := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32((2*rng.Float64() - 1) * bound)
		}
		return out
	}
	replace := func(name string, t *onnximport.Tensor) error {
		enc, err := t.Encode()
		if err != nil {
			return err
		}
		for i, p := range m.Proto.Graph.Initializer {
			if p.GetName() == name {
				m.Proto.Graph.Initializer[i] = enc
				return nil
			}
		}
		return fmt.Errorf("initializer %q not found", name)
	}
	if err := replace(w.Name, onnximport.NewFloatTensor(w.Name, dims, uniform(classes*in))); err != nil {
		return err
	}
	if b, ok := g.Initializers[head.Input(2)]; ok {
		if err := replace(b.Name, onnximport.NewFloatTensor(b.Name, []int{classes}, uniform(classes))); err != nil {
			return err
		}
	}
	for _, out := range m.Proto.Graph.Output {
		if out.GetName() != head.Outputs[0] && out.GetName() != g.Outputs[0].Name {
			continue
		}
		if tt := out.GetType().GetTensorType(); tt != nil && tt.Shape != nil && len(tt.Shape.Dim) == 2 {
			tt.Shape.Dim[1].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(classes)}
		}
	}
	// Value infos of the old width would contradict the new head.
	vi := m.Proto.Graph.ValueInfo[:0]
	for _, v := range m.Proto.Graph.ValueInfo {
		if v.GetName() != head.Outputs[0] {
			vi = append(vi, v)
		}
	}
	m.Proto.Graph.ValueInfo = vi
	if err := m.Reload(); err != nil {
		return err
	}
	return nil
}

// WriteBack stores trained values (params, regs and running statistics) into the model where each
// lives (onnximport.Model.SetWeight): an initializer or a Constant node in place; a value fed
// through Identity nodes into its root, or, when the root is shared with other weights and the
// value diverged from it, into a new initializer "<name>.unshared" that the Identity then reads.
// Values stored directly are written first, so that an Identity-fed value is compared with its
// root's final value.
func WriteBack(m *onnximport.Model, values map[string]*tensor.Dense) error {
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, viaIdentity := range []bool{false, true} {
		for _, name := range names {
			w, err := m.ResolveWeight(name)
			if err != nil {
				return fmt.Errorf("xreg: write back: %w", err)
			}
			if (w.Store == onnximport.StoreIdentity) != viaIdentity {
				continue
			}
			data, ok := values[name].Data().([]float32)
			if !ok {
				return fmt.Errorf("xreg: write back: %q holds %T, want float32", name, values[name].Data())
			}
			if err := m.SetWeight(w, data); err != nil {
				return fmt.Errorf("xreg: write back: %w", err)
			}
		}
	}
	return nil
}
