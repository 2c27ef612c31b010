package export_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// withoutExportMetadata returns a copy of mp without the metadata entries Apply adds.
func withoutExportMetadata(mp *onnxpb.ModelProto) *onnxpb.ModelProto {
	c := proto.Clone(mp).(*onnxpb.ModelProto)
	var keep []*onnxpb.StringStringEntryProto
	for _, e := range c.MetadataProps {
		if !strings.HasPrefix(e.GetKey(), "xreg.export.") {
			keep = append(keep, e)
		}
	}
	c.MetadataProps = keep
	return c
}

// protoDiff names the first part where two models differ, "" when they are equal.
func protoDiff(want, got *onnxpb.ModelProto) string {
	if proto.Equal(want, got) {
		return ""
	}
	wg, gg := want.GetGraph(), got.GetGraph()
	switch {
	case want.GetIrVersion() != got.GetIrVersion():
		return "ir_version"
	case len(want.OpsetImport) != len(got.OpsetImport):
		return "opset_import"
	case len(want.MetadataProps) != len(got.MetadataProps):
		return "metadata_props count"
	case len(wg.Node) != len(gg.Node):
		return "node count"
	case len(wg.Initializer) != len(gg.Initializer):
		return "initializer count"
	case len(wg.Input) != len(gg.Input) || len(wg.Output) != len(gg.Output) || len(wg.ValueInfo) != len(gg.ValueInfo):
		return "inputs, outputs or value_info count"
	}
	for i := range wg.Node {
		if !proto.Equal(wg.Node[i], gg.Node[i]) {
			return "node " + wg.Node[i].GetName() + " vs " + gg.Node[i].GetName()
		}
	}
	for i := range wg.Initializer {
		if !proto.Equal(wg.Initializer[i], gg.Initializer[i]) {
			return "initializer " + wg.Initializer[i].GetName()
		}
	}
	for i := range want.MetadataProps {
		if !proto.Equal(want.MetadataProps[i], got.MetadataProps[i]) {
			return "metadata " + want.MetadataProps[i].GetKey()
		}
	}
	return "some other field"
}

// TestInjectExportRoundTrip checks export(inject(m)) == m: the same protobuf (apart from the export
// metadata) and the same outputs in onnxruntime, for every fixture and inject setting.
func TestInjectExportRoundTrip(t *testing.T) {
	orttest.Require(t)
	variants := []struct {
		name  string
		opt   inject.Options
		image bool // needs an N×C×H×W input
	}{
		{name: "additive-layer"},
		{name: "multiplicative-channel", opt: inject.Options{Mode: inject.Multiplicative, Granularity: inject.Channel}},
		{name: "augment", opt: inject.Options{Augment: []string{inject.Translate, inject.Rotate}}, image: true},
	}
	for _, name := range fixtures {
		orig := load(t, name)
		x, shape := fixtureInput(t, name, 64)
		want := runModel(t, orig, x, shape)
		ref, _ := readNPY(t, "../testdata/models/"+name+".output.npy")
		if d := testutil.MaxAbsDiff(t, want.Float32, f64(ref)); d > 1e-4 {
			t.Fatalf("%s: onnxruntime differs from torch by %g", name, d)
		}
		for _, v := range variants {
			if v.image && len(shape) != 4 {
				continue
			}
			t.Run(name+"/"+v.name, func(t *testing.T) {
				m := injected(t, name, v.opt)
				wantProto := proto.Clone(orig.Proto).(*onnxpb.ModelProto)
				// An augmented model may have had its opset raised: the export keeps it.
				wantProto.IrVersion = m.Proto.IrVersion
				wantProto.OpsetImport = m.Proto.OpsetImport
				rep, err := export.Apply(m, export.Options{Version: "test"})
				if err != nil {
					t.Fatal(err)
				}
				if d := protoDiff(wantProto, withoutExportMetadata(m.Proto)); d != "" {
					t.Errorf("export(inject(m)) differs from m in %s", d)
				}
				got := runModel(t, m, x, shape)
				if d := testutil.MaxAbsDiff(t, got.Float32, f64(want.Float32)); d > 1e-6 {
					t.Errorf("outputs differ from the original model's by %g", d)
				}
				if rep.Method != export.Deterministic || rep.Output != export.Logits || rep.ScoreOutput != "logits" {
					t.Errorf("report: method %q, output %q (%q); want deterministic logits", rep.Method, rep.Output, rep.ScoreOutput)
				}
				if v.image != (len(rep.Notes) == 1) {
					t.Errorf("notes %q: want one about dropped augmentation exactly when augmenting", rep.Notes)
				}
				for _, key := range []string{inject.MetadataRegs, inject.MetadataVersion} {
					if _, ok := m.Metadata(key); ok {
						t.Errorf("metadata %s survived the export", key)
					}
				}
				if _, err := inject.Plan(m, inject.Options{}); err != nil {
					t.Errorf("the export is not a plain model inject accepts again: %v", err)
				}
			})
		}
	}
}

// TestEverythingElseSurvives decorates a fixture with doc strings, metadata, value_info and an extra
// opset import, injects it, "trains" it (new parameter values, provenance metadata) and checks that
// the export is the decorated model with the trained values, field for field.
func TestEverythingElseSurvives(t *testing.T) {
	orttest.Require(t)
	m := load(t, "cnn-bn")
	p := m.Proto
	p.DocString = proto.String("a small CNN")
	p.ProducerVersion = proto.String("1.13.1-test")
	p.Domain = proto.String("org.example")
	p.ModelVersion = proto.Int64(7)
	p.OpsetImport = append(p.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("ai.onnx.ml"), Version: proto.Int64(3)})
	p.Graph.DocString = proto.String("graph doc")
	p.Graph.Node[1].DocString = proto.String("the first BatchNorm")
	p.Graph.Input[0].DocString = proto.String("images in [0, 1]")
	p.Graph.Output[0].DocString = proto.String("class logits")
	p.Graph.ValueInfo = append(p.Graph.ValueInfo, &onnxpb.ValueInfoProto{
		Name: proto.String(p.Graph.Node[2].Output[0]), DocString: proto.String("after relu1"),
	})
	m.SetMetadata("author", "test")
	m.SetMetadata("license", "MIT")
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	decorated := proto.Clone(m.Proto).(*onnxpb.ModelProto)

	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	// Training: new θ, running statistics, log σ; provenance.
	trained := map[string]float32{"conv1.weight": 0.25, "bn2.running_mean": -0.5, "fc.bias": 1.5}
	for name, v := range trained {
		old := m.Graph.Initializers[name]
		data := make([]float32, old.Size())
		for i := range data {
			data[i] = v + float32(i%7)*0.01
		}
		if err := m.SetInitializer(onnximport.NewFloatTensor(name, old.Dims, data)); err != nil {
			t.Fatal(err)
		}
	}
	setRegs(t, m, -1.5)
	m.SetMetadata("xreg.train.epochs", "50")
	m.SetMetadata("xreg.train.seed", "3")

	rep, err := export.Apply(m, export.Options{Version: "9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	want := decorated
	for name := range trained {
		for i, tp := range want.Graph.Initializer {
			if tp.GetName() == name {
				want.Graph.Initializer[i] = findInit(t, m.Proto, name)
			}
		}
	}
	want.MetadataProps = append(want.MetadataProps,
		&onnxpb.StringStringEntryProto{Key: proto.String("xreg.train.epochs"), Value: proto.String("50")},
		&onnxpb.StringStringEntryProto{Key: proto.String("xreg.train.seed"), Value: proto.String("3")})
	if d := protoDiff(want, withoutExportMetadata(m.Proto)); d != "" {
		t.Errorf("the export differs from the decorated model with trained values in %s", d)
	}
	for name, v := range trained {
		if got := m.Graph.Initializers[name].Float[3]; got != v+0.03 {
			t.Errorf("%s[3] = %v, want the trained %v", name, got, v+0.03)
		}
	}

	// The export metadata, in order.
	var keys []string
	for _, e := range m.Proto.MetadataProps {
		keys = append(keys, e.GetKey())
	}
	wantKeys := "author license xreg.train.epochs xreg.train.seed xreg.export.regs xreg.export.method xreg.export.output xreg.export.version"
	if got := strings.Join(keys, " "); got != wantKeys {
		t.Errorf("metadata keys %q, want %q", got, wantKeys)
	}
	for key, want := range map[string]string{
		export.MetadataMethod: "deterministic", export.MetadataOutput: "logits", export.MetadataVersion: "9.9.9",
	} {
		if got, _ := m.Metadata(key); got != want {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}
	js, _ := m.Metadata(export.MetadataRegs)
	var learned []export.Learned
	if err := json.Unmarshal([]byte(js), &learned); err != nil {
		t.Fatal(err)
	}
	if len(learned) != 2 || !equalLearned(learned, rep.Regs) {
		t.Fatalf("metadata regs %+v, report %+v", learned, rep.Regs)
	}
	for _, l := range learned {
		if l.Kind != "noise" || l.Init != -2 || len(l.Value) != 1 || l.Value[0] != -1.5 ||
			math.Abs(l.Sigma[0]-math.Exp(-1.5)) > 1e-15 || !strings.HasPrefix(l.Point, "/bn") {
			t.Errorf("learned reg %+v: want noise at a BatchNorm, init -2, log σ -1.5, σ e^-1.5", l)
		}
	}
	if len(rep.Removed) != 8 || len(rep.RemovedInitializers) != 2 {
		t.Errorf("removed %d nodes (%v) and %d initializers (%v); want 4 per noise point and the 2 log σ",
			len(rep.Removed), rep.Removed, len(rep.RemovedInitializers), rep.RemovedInitializers)
	}
}

func findInit(t *testing.T, mp *onnxpb.ModelProto, name string) *onnxpb.TensorProto {
	for _, tp := range mp.Graph.Initializer {
		if tp.GetName() == name {
			return tp
		}
	}
	t.Fatalf("no initializer %q", name)
	return nil
}

func equalLearned(a, b []export.Learned) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestBadInput checks that every kind of bad input gives one clear line and leaves the model as it
// was.
func TestBadInput(t *testing.T) {
	editRegs := func(edit func(regs []inject.Reg)) func(*onnximport.Model) {
		return func(m *onnximport.Model) {
			regs, err := inject.Regs(m)
			if err != nil {
				panic(err)
			}
			edit(regs)
			js, _ := json.Marshal(regs)
			m.SetMetadata(inject.MetadataRegs, string(js))
		}
	}
	setInit := func(name string, dims []int, v float32) func(*onnximport.Model) {
		return func(m *onnximport.Model) {
			for i, tp := range m.Proto.Graph.Initializer {
				if tp.GetName() == name {
					data := make([]float32, prod(dims))
					for j := range data {
						data[j] = v
					}
					enc, _ := onnximport.NewFloatTensor(name, dims, data).Encode()
					m.Proto.Graph.Initializer[i] = enc
				}
			}
			if err := m.Reload(); err != nil {
				panic(err)
			}
		}
	}
	const bn1 = "xreg.noise.bn1.BatchNormalization.log_sigma"
	for _, test := range []struct {
		name   string
		inject *inject.Options // nil: the plain fixture
		edit   func(*onnximport.Model)
		opt    export.Options
		is     error
		want   string
	}{
		{name: "never injected", want: "was not injected: it has no xreg.regs metadata", is: export.ErrNotInjected},
		{name: "already exported", inject: &inject.Options{}, edit: func(m *onnximport.Model) {
			if _, err := export.Apply(m, export.Options{}); err != nil {
				panic(err)
			}
		}, want: "it is already an export", is: export.ErrNotInjected},
		{name: "regs format version", inject: &inject.Options{}, edit: func(m *onnximport.Model) {
			m.SetMetadata(inject.MetadataVersion, "99")
		}, want: `metadata xreg.version is "99"`},
		{name: "regs not JSON", inject: &inject.Options{}, edit: func(m *onnximport.Model) {
			m.SetMetadata(inject.MetadataRegs, "[{")
		}, want: "metadata xreg.regs: unexpected end of JSON input"},
		{name: "missing trained value", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[0].Name = "xreg.noise.gone.log_sigma"
		}), want: `the trained value of xreg.noise.gone.log_sigma (noise at "/bn1/BatchNormalization") is missing`},
		{name: "missing node", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[1].Nodes = append(regs[1].Nodes, "xreg/noise/gone")
		}), want: `node "xreg/noise/gone" listed in the xreg.regs metadata is missing`},
		{name: "missing value name", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[0].Value = ""
		}), want: "the value or output name is missing"},
		{name: "unknown value", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[0].Value = "nowhere"
		}), want: `the regularized value "nowhere" recorded in the xreg.regs metadata does not exist`},
		{name: "node left out of the metadata", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[0].Nodes = regs[0].Nodes[1:] // keeps the RandomNormalLike
		}), want: "is still in the graph after removing every injected node"},
		{name: "NaN log sigma", inject: &inject.Options{}, edit: setInit(bn1, []int{1}, float32(math.NaN())),
			want: "parameter xreg.noise.bn1.BatchNormalization.log_sigma holds NaN at element 0 (did training diverge?)"},
		{name: "layer sigma grew", inject: &inject.Options{}, edit: setInit(bn1, []int{3}, -2),
			want: "has shape [3]; a layer-granularity σ has one value (shape drift)"},
		{name: "channel sigma drifted", inject: &inject.Options{Granularity: inject.Channel}, edit: setInit(bn1, []int{16, 1, 1}, -2),
			want: "σ of shape [16 1 1] does not broadcast to value \"/bn1/BatchNormalization_output_0\" of per-example shape [32 28 28] (shape drift)"},
		{name: "value shape drifted", inject: &inject.Options{}, edit: editRegs(func(regs []inject.Reg) {
			regs[1].Shape = []int{-1, 32, 14, 14}
		}), want: "has per-example shape [64 14 14], but [32 14 14] when injected (shape drift)"},
		{name: "negative mc", inject: &inject.Options{}, opt: export.Options{MC: -1}, want: "Options.MC -1: want a positive number of draws"},
		{name: "mc and temperature", inject: &inject.Options{}, opt: export.Options{MC: 2, Temperature: 2}, want: "Options.MC and Options.Temperature exclude each other"},
		{name: "NaN temperature", inject: &inject.Options{}, opt: export.Options{Temperature: math.NaN()}, want: "Options.Temperature NaN: want a positive finite number"},
		{name: "unknown output", inject: &inject.Options{}, opt: export.Options{ScoreOutput: "probs"}, want: `the model has no output "probs" (outputs: "logits")`},
	} {
		t.Run(test.name, func(t *testing.T) {
			m := load(t, "cnn-bn")
			if test.inject != nil {
				if _, err := inject.Apply(m, *test.inject); err != nil {
					t.Fatal(err)
				}
			}
			if test.edit != nil {
				test.edit(m)
			}
			before := proto.Clone(m.Proto)
			_, err := export.Apply(m, test.opt)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "export: ../testdata/models/cnn-bn.onnx: ") || !strings.Contains(msg, test.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q\nwant one line starting with the package and the model, containing %q", msg, test.want)
			}
			if test.is != nil && !errors.Is(err, test.is) {
				t.Errorf("error %v is not %v", err, test.is)
			}
			if !proto.Equal(before, m.Proto) {
				t.Error("the model changed")
			}
		})
	}
}

func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// TestOptionErrorFields: a setting Apply cannot honour is an *export.OptionError naming the field
// (and the one it excludes), so that the CLI can name its flags.
func TestOptionErrorFields(t *testing.T) {
	for _, test := range []struct {
		name        string
		opt         export.Options
		field, with string
	}{
		{"negative mc", export.Options{MC: -1}, "MC", ""},
		{"mc and temperature", export.Options{MC: 2, Temperature: 2}, "MC", "Temperature"},
		{"infinite temperature", export.Options{Temperature: math.Inf(1)}, "Temperature", ""},
	} {
		t.Run(test.name, func(t *testing.T) {
			m := load(t, "cnn-bn")
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			_, err := export.Apply(m, test.opt)
			var oe *export.OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not an *export.OptionError", err)
			}
			if oe.Field != test.field || oe.With != test.with {
				t.Errorf("field %q with %q, want %q with %q (%v)", oe.Field, oe.With, test.field, test.with, err)
			}
		})
	}
}
