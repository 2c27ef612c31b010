package inject_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestRegs checks that Regs, the one reader of the xreg.regs metadata, returns what Apply wrote and
// refuses every malformed entry with a *RegsError naming the model and the entry.
func TestRegs(t *testing.T) {
	injected := func(t *testing.T) (*onnximport.Model, *inject.Report) {
		m, err := onnximport.Load(testutil.ModelPath("cnn-bn.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := inject.Apply(m, inject.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m, rep
	}
	m, rep := injected(t)
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(regs)
	want, _ := json.Marshal(rep.Regs)
	if string(got) != string(want) {
		t.Errorf("Regs = %s, want what Apply reported %s", got, want)
	}

	edit := func(f func([]inject.Reg) []inject.Reg) func(*onnximport.Model) {
		return func(m *onnximport.Model) {
			regs, err := inject.Regs(m)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(f(regs))
			m.SetMetadata(inject.MetadataRegs, string(js))
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*onnximport.Model)
		want string
		is   error
	}{
		{"no metadata", func(m *onnximport.Model) { m.DeleteMetadata(inject.MetadataRegs) }, "it has no xreg.regs metadata", inject.ErrNotInjected},
		{"empty list", func(m *onnximport.Model) { m.SetMetadata(inject.MetadataRegs, "[]") }, "lists no regularization parameter", inject.ErrNotInjected},
		{"format version", func(m *onnximport.Model) { m.SetMetadata(inject.MetadataVersion, "99") }, `metadata xreg.version is "99"`, nil},
		{"not JSON", func(m *onnximport.Model) { m.SetMetadata(inject.MetadataRegs, "[{") }, "metadata xreg.regs: unexpected end of JSON input", nil},
		{"no name", edit(func(r []inject.Reg) []inject.Reg { r[1].Name = ""; return r }), "xreg.regs entry 1 has no parameter name", nil},
		{"kind", edit(func(r []inject.Reg) []inject.Reg { r[0].Kind = "dropout"; return r }), `kind "dropout" is not noise, augment or norm`, nil},
		{"norm", edit(func(r []inject.Reg) []inject.Reg { r[0].Kind, r[0].Mode = inject.KindNorm, "l3"; return r }), `norm "l3" is not l2`, nil},
		{"mode", edit(func(r []inject.Reg) []inject.Reg { r[0].Mode = "both"; return r }), `noise mode "both" is not additive or multiplicative`, nil},
		{"placement", edit(func(r []inject.Reg) []inject.Reg { r[0].Placement = "inside"; return r }), `placement "inside" is not`, nil},
		{"no output", edit(func(r []inject.Reg) []inject.Reg { r[0].Output = ""; return r }), "the value or output name is missing", nil},
		{"no nodes", edit(func(r []inject.Reg) []inject.Reg { r[0].Nodes = nil; return r }), "lists no added nodes", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := injected(t)
			tc.edit(m)
			_, err := inject.Regs(m)
			var re *inject.RegsError
			if !errors.As(err, &re) || re.Model != m.Path {
				t.Fatalf("error %v (%T), want a *RegsError naming %s", err, err, m.Path)
			}
			if !strings.HasPrefix(err.Error(), "inject: "+m.Path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with the package and model and contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}
