package onnximport

import (
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// Supported IR versions and default-domain opsets.
const (
	MinIRVersion = 3
	MaxIRVersion = 10
	MinOpset     = 7
	MaxOpset     = 21
)

// ErrNotONNX is returned (wrapped) when a file does not parse as an ONNX model.
var ErrNotONNX = errors.New("not an ONNX model")

// Model is an ONNX model: the protobuf of record and a validated view of its main graph.
type Model struct {
	// Path is the file the model was read from, "" when parsed from bytes.
	Path string
	// Proto is the model as read. Writing serialises it, so edits to it are kept.
	Proto *onnxpb.ModelProto
	// Opset is the version of the default ("" or "ai.onnx") operator set.
	Opset int64
	// Graph is the main graph, validated and topologically sorted.
	Graph *Graph
	// Unsupported lists every node the executor cannot run (op, attribute value or opset), every
	// node whose attributes or parameters onnxruntime would refuse (a kernel of 0, a group that
	// does not divide the channels, inconsistent shapes) and every graph input of a type the tool
	// cannot feed. It is empty unless the model was loaded with LoadPermissive.
	Unsupported []error
}

// Graph is the validated view of a GraphProto.
type Graph struct {
	// Nodes in topological order (producers before consumers).
	Nodes []*Node
	// Inputs are the graph inputs that are not initializers, in declaration order.
	Inputs []*Value
	// Outputs are the graph outputs in declaration order.
	Outputs []*Value
	// Constants are the values the op-version adapters synthesized from older nodes' attributes
	// (adapt.go), by the input name they gave them; they are not in the protobuf.
	Constants map[string]*Tensor
	// Initializers by name; InitializerNames gives their declaration order.
	Initializers     map[string]*Tensor
	InitializerNames []string
	// Producer maps a value name to the node producing it (absent for inputs and initializers).
	Producer map[string]*Node
	// Consumers maps a value name to the nodes reading it, in topological order.
	Consumers map[string][]*Node
}

// Value is a graph input or output with its declared element type and shape. A dimension is
// -1 when it is symbolic (DimParams holds its name) or unknown.
type Value struct {
	Name      string
	DType     DType
	Shape     []int
	DimParams []string
	// HasShape is false when the model declares no shape at all.
	HasShape bool
}

// Load reads, parses and validates an ONNX model file.
func Load(path string) (*Model, error) { return load(path, false) }

// LoadPermissive is Load, except that unsupported nodes are listed in Model.Unsupported instead of
// failing the load. Structural errors (not ONNX, dangling edges, cycles, bad tensors) still fail.
func LoadPermissive(path string) (*Model, error) { return load(path, true) }

func load(path string, permissive bool) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnximport: %w", err)
	}
	return parseFile(path, data, permissive)
}

// ParseFile is Load of a file the caller has already read: data is the content of path (read
// once where the caller needs the bytes too, e.g. to hash them). Errors name path as Load's do.
func ParseFile(path string, data []byte) (*Model, error) { return parseFile(path, data, false) }

func parseFile(path string, data []byte, permissive bool) (*Model, error) {
	m, err := parse(data, permissive)
	if err != nil {
		return nil, fmt.Errorf("onnximport: %s: %w", path, unwrapPrefix(err))
	}
	m.Path = path
	return m, nil
}

// unwrapPrefix drops the package prefix of an error from Parse so Load can name the file once.
func unwrapPrefix(err error) error { return &noPrefix{err} }

type noPrefix struct{ err error }

func (e *noPrefix) Error() string {
	const p = "onnximport: "
	s := e.err.Error()
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
func (e *noPrefix) Unwrap() error { return e.err }

// Parse decodes and validates a serialized ModelProto.
func Parse(data []byte) (*Model, error) { return parse(data, false) }

func parse(data []byte, permissive bool) (*Model, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("onnximport: empty file: %w", ErrNotONNX)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("onnximport: %w (protobuf: %v)", ErrNotONNX, err)
	}
	if mp.Graph == nil || mp.IrVersion == nil {
		return nil, fmt.Errorf("onnximport: %w (no graph or no ir_version)", ErrNotONNX)
	}
	return fromProto(&mp, permissive)
}

// FromProto validates mp and builds its graph view. mp is kept, not copied.
func FromProto(mp *onnxpb.ModelProto) (*Model, error) { return fromProto(mp, false) }

func fromProto(mp *onnxpb.ModelProto, permissive bool) (*Model, error) {
	ir := mp.GetIrVersion()
	if ir < MinIRVersion || ir > MaxIRVersion {
		return nil, fmt.Errorf("onnximport: IR version %d is not supported (want %d–%d)", ir, MinIRVersion, MaxIRVersion)
	}
	m := &Model{Proto: mp, Opset: -1}
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			m.Opset = o.GetVersion()
		}
	}
	if m.Opset < 0 {
		return nil, errors.New("onnximport: model imports no default-domain opset")
	}
	if m.Opset < MinOpset || m.Opset > MaxOpset {
		return nil, fmt.Errorf("onnximport: opset %d is not supported (want %d–%d)", m.Opset, MinOpset, MaxOpset)
	}
	g, unsupported, err := buildGraph(mp.GetGraph(), m.Opset)
	if err != nil {
		return nil, fmt.Errorf("onnximport: %w", err)
	}
	m.Graph, m.Unsupported = g, unsupported
	m.Unsupported = append(m.Unsupported, m.checkShapes()...)
	if len(m.Unsupported) > 0 && !permissive {
		return nil, fmt.Errorf("onnximport: %w", m.Unsupported[0])
	}
	return m, nil
}

// Marshal serialises the model's protobuf deterministically.
func (m *Model) Marshal() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("onnximport: marshal: %w", err)
	}
	return b, nil
}

// Save writes the model to path atomically.
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("onnximport: %w", err)
	}
	return nil
}

// Reload re-validates the protobuf after edits and refreshes the graph view.
func (m *Model) Reload() error {
	fresh, err := FromProto(m.Proto)
	if err != nil {
		return err
	}
	m.Opset, m.Graph = fresh.Opset, fresh.Graph
	return nil
}

// SetInitializer replaces the data of an existing initializer, keeping its name, position and
// dims; the shapes must match. The graph view is updated too.
func (m *Model) SetInitializer(t *Tensor) error {
	old, ok := m.Graph.Initializers[t.Name]
	if !ok {
		return fmt.Errorf("onnximport: initializer %q does not exist", t.Name)
	}
	if !sameDims(old.Dims, t.Dims) {
		return fmt.Errorf("onnximport: initializer %q: dims %v, model has %v", t.Name, t.Dims, old.Dims)
	}
	enc, err := t.Encode()
	if err != nil {
		return fmt.Errorf("onnximport: %w", err)
	}
	for i, p := range m.Proto.Graph.Initializer {
		if p.GetName() == t.Name {
			enc.DocString = p.DocString
			m.Proto.Graph.Initializer[i] = enc
		}
	}
	m.Graph.Initializers[t.Name] = t
	return nil
}

// Metadata returns the value of a metadata_props entry.
func (m *Model) Metadata(key string) (string, bool) {
	for _, e := range m.Proto.GetMetadataProps() {
		if e.GetKey() == key {
			return e.GetValue(), true
		}
	}
	return "", false
}

// SetMetadata sets (or adds) a metadata_props entry, keeping the others in order.
func (m *Model) SetMetadata(key, value string) { setMetadata(m.Proto, key, value) }

// DeleteMetadata removes the metadata_props entries keys, where present.
func (m *Model) DeleteMetadata(keys ...string) { deleteMetadata(m.Proto, keys...) }

// Clone returns a copy of the model: deep, except that the initializers' TensorProtos (and the
// float32 data decoded from their raw_data) are shared with m. Both are read-only — an initializer
// is changed by replacing it (SetInitializer, an Editor), never in place — so a change to either
// model leaves the other as it was, and cloning a large model does not copy its weights.
func (m *Model) Clone() *Model {
	mp := cloneSharingInitializers(m.Proto)
	c, err := FromProto(mp)
	if err != nil {
		// m was valid, so its copy is too.
		panic(fmt.Sprintf("onnximport: clone of a valid model failed: %v", err))
	}
	c.Path = m.Path
	return c
}

// ParamCount returns the number of elements of all float initializers.
func (m *Model) ParamCount() int {
	n := 0
	for _, t := range m.Graph.Initializers {
		if t.DType.IsFloat() {
			n += t.Size()
		}
	}
	return n
}

func sameDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func valueFromProto(v *onnxpb.ValueInfoProto) *Value {
	out := &Value{Name: v.GetName()}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return out
	}
	out.DType = DType(tt.GetElemType())
	if tt.Shape == nil {
		return out
	}
	out.HasShape = true
	for _, d := range tt.GetShape().GetDim() {
		if dv, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			out.Shape = append(out.Shape, int(dv.DimValue))
			out.DimParams = append(out.DimParams, "")
		} else {
			out.Shape = append(out.Shape, -1)
			out.DimParams = append(out.DimParams, d.GetDimParam())
		}
	}
	return out
}
