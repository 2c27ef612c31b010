package onnximport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// manifestEntry is what scripts/make_fixtures.py recorded about each fixture from the graph itself.
type manifestEntry struct {
	File         string         `json:"file"`
	Opset        int64          `json:"opset"`
	Ops          map[string]int `json:"ops"`
	Nodes        int            `json:"nodes"`
	Initializers int            `json:"initializers"`
	Params       int            `json:"params"`
	InitElements int            `json:"initializer_elements"`
}

func readManifest(t *testing.T, dir string) map[string]manifestEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("fixture manifest: %v (run python3 scripts/make_fixtures.py)", err)
	}
	var m map[string]manifestEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadFixturesMatchManifest(t *testing.T) {
	dir := filepath.Join("..", "testdata", "models")
	// Load, and ParseFile of the bytes read here: the same model from the manifest's view.
	parseFile := func(path string) (*Model, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return ParseFile(path, data)
	}
	for name, want := range readManifest(t, dir) {
		for how, load := range map[string]func(string) (*Model, error){"Load": Load, "ParseFile": parseFile} {
			t.Run(name+"/"+how, func(t *testing.T) { checkManifest(t, load, dir, want) })
		}
	}
}

// checkManifest checks the model that load reads from dir against its manifest entry (written by
// scripts/make_fixtures.py from the ONNX files themselves).
func checkManifest(t *testing.T, load func(string) (*Model, error), dir string, want manifestEntry) {
	t.Helper()
	m, err := load(filepath.Join(dir, want.File))
	if err != nil {
		t.Fatal(err)
	}
	if m.Path != filepath.Join(dir, want.File) {
		t.Errorf("Path %q, want %q", m.Path, filepath.Join(dir, want.File))
	}
	if m.Opset != want.Opset {
		t.Errorf("opset %d, want %d", m.Opset, want.Opset)
	}
	if len(m.Graph.Nodes) != want.Nodes {
		t.Errorf("%d nodes, want %d", len(m.Graph.Nodes), want.Nodes)
	}
	got := map[string]int{}
	for _, n := range m.Graph.Nodes {
		got[n.OpType]++
	}
	for op, c := range want.Ops {
		if got[op] != c {
			t.Errorf("op %s: %d nodes, want %d", op, got[op], c)
		}
	}
	if len(got) != len(want.Ops) {
		t.Errorf("op types %v, want %v", got, want.Ops)
	}
	if len(m.Graph.Initializers) != want.Initializers {
		t.Errorf("%d initializers, want %d", len(m.Graph.Initializers), want.Initializers)
	}
	if n := m.ParamCount(); n != want.InitElements {
		t.Errorf("%d float initializer elements, want %d", n, want.InitElements)
	}
	// Topological order: every input is produced before it is read.
	seen := map[string]bool{}
	for _, in := range m.Graph.Inputs {
		seen[in.Name] = true
	}
	for k := range m.Graph.Initializers {
		seen[k] = true
	}
	for k := range m.Graph.Constants {
		seen[k] = true
	}
	for _, n := range m.Graph.Nodes {
		for _, in := range n.Inputs {
			if in != "" && !seen[in] {
				t.Fatalf("%v reads %q before it is produced", n, in)
			}
		}
		for _, out := range n.Outputs {
			seen[out] = true
		}
	}
}

func TestRoundTripKeepsEverything(t *testing.T) {
	dir := filepath.Join("..", "testdata", "models")
	for name, want := range readManifest(t, dir) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, want.File)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "rt.onnx")
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			again, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			// Compare with a schema-free decoding of both files: the generic protobuf view of the
			// official schema is not available here, so compare our decoding, including unknown
			// fields, which proto.Equal does.
			var a, b onnxpb.ModelProto
			if err := proto.Unmarshal(orig, &a); err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(again, &b); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&a, &b) {
				t.Fatal("round trip changed the model")
			}
			if len(again) != len(orig) {
				t.Errorf("round trip size %d, original %d", len(again), len(orig))
			}
		})
	}
}

func TestRoundTripKeepsUnknownFields(t *testing.T) {
	mp := tinyModel()
	// Field 25 (functions) and 20 (training_info) are not declared in the project's schema.
	unknown := []byte{0xca, 0x01, 0x03, 0x0a, 0x01, 'f'} // field 25, length 3, {field 1: "f"}
	mp.ProtoReflect().SetUnknown(unknown)
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var back onnxpb.ModelProto
	if err := proto.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if got := string(back.ProtoReflect().GetUnknown()); got != string(unknown) {
		t.Fatalf("unknown fields %x, want %x", got, unknown)
	}
}

func TestSetInitializerWritesBack(t *testing.T) {
	m, err := Load(filepath.Join("..", "testdata", "models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Gemm" {
			name = n.Inputs[2]
		}
	}
	old := m.Graph.Initializers[name]
	upd := NewFloatTensor(name, old.Dims, make([]float32, old.Size()))
	for i := range upd.Float {
		upd.Float[i] = float32(i) + 0.5
	}
	if err := m.SetInitializer(upd); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "upd.onnx")
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	got := back.Graph.Initializers[name].Float
	for i, v := range got {
		if v != float32(i)+0.5 {
			t.Fatalf("element %d = %v", i, v)
		}
	}
	if err := m.SetInitializer(NewFloatTensor(name, []int{3}, make([]float32, 3))); err == nil || !strings.Contains(err.Error(), "dims") {
		t.Errorf("shape change accepted: %v", err)
	}
}

func TestMetadata(t *testing.T) {
	m, err := Parse(mustMarshal(t, tinyModel()))
	if err != nil {
		t.Fatal(err)
	}
	m.SetMetadata("a", "1")
	m.SetMetadata("b", "2")
	m.SetMetadata("a", "3")
	if v, _ := m.Metadata("a"); v != "3" {
		t.Errorf("a = %q", v)
	}
	m.DeleteMetadata("a")
	if _, ok := m.Metadata("a"); ok || len(m.Proto.MetadataProps) != 1 {
		t.Errorf("delete failed: %v", m.Proto.MetadataProps)
	}
}
