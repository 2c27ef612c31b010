package ort

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// Tensor is a dense tensor passed to or returned by Session.Run. Exactly one of Float32 and Int64
// holds the row-major data, product(Shape) values; an empty Shape is a scalar holding one value.
// Name is the model input or output it belongs to; inputs given without names are matched to the
// model's inputs by position.
type Tensor struct {
	Name    string
	Shape   []int64
	Float32 []float32
	Int64   []int64
}

// Info describes one model input or output.
type Info struct {
	Name string `json:"name"`
	// Type is the element type: "float32", "int64", "float64", "int32", "uint8", "bool", ...
	// (Go's names; "float16" and "bfloat16" for the half types).
	Type string `json:"type"`
	// Shape has -1 for a dynamic (symbolic or unknown) dimension.
	Shape []int64 `json:"shape"`
}

func (i Info) String() string { return fmt.Sprintf("%q %s%v", i.Name, i.Type, i.Shape) }

// Options configures a Session. The zero value (or a nil *Options) means one thread each: timings
// are then reproducible and comparable with single-threaded PyTorch.
type Options struct {
	// IntraOpThreads is the number of threads one operator may use; 0 means 1.
	IntraOpThreads int
	// InterOpThreads is the number of operators that may run at once; 0 means 1.
	InterOpThreads int
}

// Session is a loaded model ready to run. Its methods are safe for concurrent use.
type Session struct {
	name    string
	inputs  []Info
	outputs []Info

	mu     sync.RWMutex // Run holds it for reading, Close for writing
	sess   *onnxruntime.DynamicAdvancedSession
	closed bool
}

// Open loads the ONNX model at path (external data files are resolved next to it).
func Open(path string, opts *Options) (*Session, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	defer so.Destroy()
	in, out, err := onnxruntime.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	s, err := newSession(path, in, out)
	if err != nil {
		return nil, err
	}
	s.sess, err = onnxruntime.NewDynamicAdvancedSession(path, names(s.inputs), names(s.outputs), so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", path, err)
	}
	return s, nil
}

// OpenBytes loads a serialised ONNX model (a ModelProto) from memory; name identifies it in errors.
func OpenBytes(data []byte, name string, opts *Options) (*Session, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("ort: model %s: no data", name)
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", name, err)
	}
	defer so.Destroy()
	in, out, err := onnxruntime.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", name, err)
	}
	s, err := newSession(name, in, out)
	if err != nil {
		return nil, err
	}
	s.sess, err = onnxruntime.NewDynamicAdvancedSessionWithONNXData(data, names(s.inputs), names(s.outputs), so)
	if err != nil {
		return nil, fmt.Errorf("ort: model %s: %w", name, err)
	}
	return s, nil
}

func sessionOptions(opts *Options) (*onnxruntime.SessionOptions, error) {
	intra, inter := 1, 1
	if opts != nil {
		if opts.IntraOpThreads < 0 || opts.InterOpThreads < 0 {
			return nil, fmt.Errorf("negative thread count (intra-op %d, inter-op %d)", opts.IntraOpThreads, opts.InterOpThreads)
		}
		intra, inter = max(opts.IntraOpThreads, 1), max(opts.InterOpThreads, 1)
	}
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if err := so.SetIntraOpNumThreads(intra); err != nil {
		so.Destroy()
		return nil, err
	}
	if err := so.SetInterOpNumThreads(inter); err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func newSession(name string, in, out []onnxruntime.InputOutputInfo) (*Session, error) {
	s := &Session{name: name}
	for _, side := range []struct {
		kind  string
		infos []onnxruntime.InputOutputInfo
		dst   *[]Info
	}{{"input", in, &s.inputs}, {"output", out, &s.outputs}} {
		for _, io := range side.infos {
			if io.OrtValueType != onnxruntime.ONNXTypeTensor {
				return nil, fmt.Errorf("ort: model %s: %s %q is a %v; only tensors are supported", name, side.kind, io.Name, io.OrtValueType)
			}
			*side.dst = append(*side.dst, Info{Name: io.Name, Type: typeName(io.DataType), Shape: slices.Clone([]int64(io.Dimensions))})
		}
	}
	return s, nil
}

func names(infos []Info) []string {
	n := make([]string, len(infos))
	for i, info := range infos {
		n[i] = info.Name
	}
	return n
}

// Name returns the model path, or the name given to OpenBytes.
func (s *Session) Name() string { return s.name }

// Inputs describes the model inputs, in the model's order.
func (s *Session) Inputs() []Info { return cloneInfos(s.inputs) }

// Outputs describes the model outputs, in the model's order; Run returns them in this order.
func (s *Session) Outputs() []Info { return cloneInfos(s.outputs) }

func cloneInfos(infos []Info) []Info {
	c := make([]Info, len(infos))
	for i, info := range infos {
		c[i] = Info{Name: info.Name, Type: info.Type, Shape: slices.Clone(info.Shape)}
	}
	return c
}

// Close releases the session. It waits for runs in flight; later runs fail. Closing twice is a no-op.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.sess == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	if err := s.sess.Destroy(); err != nil {
		return fmt.Errorf("ort: model %s: close: %w", s.name, err)
	}
	return nil
}

// Run runs the model on one tensor per model input and returns every model output, in the order of
// Outputs. Inputs are matched to the model's by Name, or by position when none is named; their
// element types and shapes are checked against the model first (a -1 model dimension accepts any
// size). Only float32 and int64 inputs and outputs are supported.
func (s *Session) Run(inputs ...Tensor) ([]Tensor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("ort: model %s: %w", s.name, errClosed)
	}
	ordered, err := s.order(inputs)
	if err != nil {
		return nil, err
	}
	values := make([]onnxruntime.Value, len(ordered))
	defer destroyAll(values)
	for i, t := range ordered {
		if values[i], err = s.toValue(s.inputs[i], t); err != nil {
			return nil, err
		}
	}
	outs := make([]onnxruntime.Value, len(s.outputs))
	defer destroyAll(outs)
	if err := s.sess.Run(values, outs); err != nil {
		return nil, fmt.Errorf("ort: model %s: run: %w", s.name, err)
	}
	result := make([]Tensor, len(outs))
	for i, v := range outs {
		t := Tensor{Name: s.outputs[i].Name, Shape: slices.Clone([]int64(v.GetShape()))}
		switch v := v.(type) {
		case *onnxruntime.Tensor[float32]:
			t.Float32 = v.GetData()
		case *onnxruntime.Tensor[int64]:
			t.Int64 = v.GetData()
		default:
			return nil, fmt.Errorf("ort: model %s: output %q has element type %s; only float32 and int64 are supported",
				s.name, t.Name, s.outputs[i].Type)
		}
		result[i] = t
	}
	return result, nil
}

func destroyAll(values []onnxruntime.Value) {
	for _, v := range values {
		if v != nil {
			v.Destroy()
		}
	}
}

// order returns inputs in the model's input order.
func (s *Session) order(inputs []Tensor) ([]Tensor, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("ort: model %s: got %d inputs, the model has %d (%s)", s.name, len(inputs), len(s.inputs), describe(s.inputs))
	}
	named := 0
	for _, t := range inputs {
		if t.Name != "" {
			named++
		}
	}
	if named == 0 {
		return inputs, nil
	}
	if named != len(inputs) {
		return nil, fmt.Errorf("ort: model %s: name all inputs or none", s.name)
	}
	ordered := make([]Tensor, len(inputs))
	seen := make([]bool, len(inputs))
	for _, t := range inputs {
		i := slices.IndexFunc(s.inputs, func(info Info) bool { return info.Name == t.Name })
		if i < 0 {
			return nil, fmt.Errorf("ort: model %s: no input named %q (inputs: %s)", s.name, t.Name, describe(s.inputs))
		}
		if seen[i] {
			return nil, fmt.Errorf("ort: model %s: input %q given twice", s.name, t.Name)
		}
		seen[i] = true
		ordered[i] = t
	}
	return ordered, nil
}

func describe(infos []Info) string {
	parts := make([]string, len(infos))
	for i, info := range infos {
		parts[i] = info.String()
	}
	return strings.Join(parts, ", ")
}

// toValue checks t against the model input info and wraps its data (without copying) in an
// onnxruntime value.
func (s *Session) toValue(info Info, t Tensor) (onnxruntime.Value, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("ort: model %s: input %q: %s", s.name, info.Name, fmt.Sprintf(format, args...))
	}
	typ := ""
	switch {
	case t.Float32 != nil && t.Int64 != nil:
		return nil, fail("both Float32 and Int64 data set")
	case t.Float32 != nil:
		typ = "float32"
	case t.Int64 != nil:
		typ = "int64"
	default:
		typ = info.Type // no data: only valid for a shape with a zero dimension
	}
	if typ != info.Type {
		return nil, fail("got %s data, the model wants %s", typ, info.Type)
	}
	if !shapeMatches(info.Shape, t.Shape) {
		return nil, fail("shape %v does not match the model's %v", t.Shape, info.Shape)
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return nil, fail("negative dimension in shape %v", t.Shape)
		}
		if d > 0 && n > math.MaxInt64/d {
			return nil, fail("shape %v is too large", t.Shape)
		}
		n *= d
	}
	if got := int64(len(t.Float32) + len(t.Int64)); got != n {
		return nil, fail("shape %v needs %d values, got %d", t.Shape, n, got)
	}
	var v onnxruntime.Value
	var err error
	switch {
	case typ == "float32" && len(t.Shape) == 0:
		v, err = onnxruntime.NewScalar(t.Float32[0])
	case typ == "int64" && len(t.Shape) == 0:
		v, err = onnxruntime.NewScalar(t.Int64[0])
	case typ == "float32":
		v, err = onnxruntime.NewTensor(onnxruntime.Shape(t.Shape), nonNil(t.Float32))
	case typ == "int64":
		v, err = onnxruntime.NewTensor(onnxruntime.Shape(t.Shape), nonNil(t.Int64))
	default:
		return nil, fail("element type %s is not supported; only float32 and int64", typ)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	return v, nil
}

func nonNil[T any](x []T) []T {
	if x == nil {
		return []T{}
	}
	return x
}

// shapeMatches reports whether shape fits a model shape: same rank, and equal dimensions wherever
// the model's is not -1 (dynamic). onnxruntime reports rank 0 both for scalars and for inputs whose
// shape the model does not declare, so a rank-0 model shape accepts any shape (onnxruntime checks).
func shapeMatches(model, shape []int64) bool {
	if len(model) == 0 {
		return true
	}
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

// typeName maps onnxruntime's element types to Go's names.
func typeName(t onnxruntime.TensorElementDataType) string {
	switch t {
	case onnxruntime.TensorElementDataTypeFloat:
		return "float32"
	case onnxruntime.TensorElementDataTypeDouble:
		return "float64"
	case onnxruntime.TensorElementDataTypeFloat16:
		return "float16"
	case onnxruntime.TensorElementDataTypeBFloat16:
		return "bfloat16"
	case onnxruntime.TensorElementDataTypeInt8:
		return "int8"
	case onnxruntime.TensorElementDataTypeInt16:
		return "int16"
	case onnxruntime.TensorElementDataTypeInt32:
		return "int32"
	case onnxruntime.TensorElementDataTypeInt64:
		return "int64"
	case onnxruntime.TensorElementDataTypeUint8:
		return "uint8"
	case onnxruntime.TensorElementDataTypeUint16:
		return "uint16"
	case onnxruntime.TensorElementDataTypeUint32:
		return "uint32"
	case onnxruntime.TensorElementDataTypeUint64:
		return "uint64"
	case onnxruntime.TensorElementDataTypeBool:
		return "bool"
	case onnxruntime.TensorElementDataTypeString:
		return "string"
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}
