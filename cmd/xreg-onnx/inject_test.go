package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// runInjectCLI runs `xreg-onnx inject args…` and returns what it printed.
func runInjectCLI(args ...string) (string, error) {
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(flagsFirst(app, append([]string{"xreg-onnx", "inject"}, args...)))
	return out.String(), err
}

// injectFixtureCopy copies a fixture model into a fresh folder and returns its path there.
func injectFixtureCopy(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInjectHelp(t *testing.T) {
	out, err := runInjectCLI("--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--output", "-o", "--mode", "--granularity", "--sigma0", "--where", "--skip", "--augment ",
		"--augment-init", "--dry-run", "--force", "model.onnx", "additive", "multiplicative", "layer", "channel",
		"translate", "rotate", "shear", "scale"} {
		if !strings.Contains(out, flag) {
			t.Errorf("inject --help does not mention %q:\n%s", flag, out)
		}
	}
}

func TestInjectWritesBesideInput(t *testing.T) {
	in := injectFixtureCopy(t, "cnn-bn.onnx")
	before, _ := os.ReadFile(in)
	out, err := runInjectCLI("--granularity", "channel", "--augment", "rotate, translate", "--augment-init", "rotate=15", in)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(in, ".onnx") + ".xreg.onnx"
	for _, s := range []string{"xreg.noise.bn1.BatchNormalization.log_sigma", "xreg.augment.rotate.magnitude",
		"opset raised from 13 to 16", "wrote " + want + ": 2 noise and 2 augmentation parameters"} {
		if !strings.Contains(out, s) {
			t.Errorf("output does not mention %q:\n%s", s, out)
		}
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Error("the input model was modified")
	}
	m, err := onnximport.Load(want)
	if err != nil {
		t.Fatal(err)
	}
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range regs {
		got[r.Name] = r.Init
	}
	if len(regs) != 4 || got["xreg.augment.rotate.magnitude"] != 15 || got["xreg.augment.translate.magnitude"] != 2 {
		t.Errorf("regs %v, want 2 noise, rotate 15 and translate 2", got)
	}
	if d := m.Graph.Initializers["xreg.noise.bn2.BatchNormalization.log_sigma"].Dims; len(d) != 3 || d[0] != 64 {
		t.Errorf("channel log σ of bn2 has dims %v, want [64 1 1]", d)
	}

	// A second run refuses to overwrite, --force overwrites, also written after the model.
	if _, err := runInjectCLI(in); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second run: got %v, want an error suggesting --force", err)
	}
	if _, err := runInjectCLI("--force", "--mode", "multiplicative", in); err != nil {
		t.Errorf("--force: %v", err)
	}
	if _, err := runInjectCLI(in, "--force"); err != nil {
		t.Errorf("flag after the model: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(in)); len(entries) != 2 {
		t.Errorf("the folder holds %d files, want the input and the output (no temporary files left)", len(entries))
	}
}

func TestInjectDryRun(t *testing.T) {
	in := injectFixtureCopy(t, "mlp-ln-op17.onnx")
	out, err := runInjectCLI("--dry-run", "--where", "ln[12]", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"/ln1/LayerNormalization", "/ln2/LayerNormalization", "?×256", "xreg.noise.ln1.LayerNormalization.log_sigma",
		"dry run: 2 noise and 0 augmentation parameters; nothing written"} {
		if !strings.Contains(out, s) {
			t.Errorf("dry run output does not mention %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "ln3") {
		t.Errorf("--where ln[12] kept ln3:\n%s", out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(in)); len(entries) != 1 {
		t.Errorf("a dry run wrote %d files", len(entries)-1)
	}
}

func TestInjectErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.onnx")
	if err := os.WriteFile(text, []byte("not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A valid model file whose opset (9) the project does not support.
	old := filepath.Join(dir, "old.onnx")
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(4), OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(6)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("g"), Node: []*onnxpb.NodeProto{{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}}}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cnn := injectFixtureCopy(t, "cnn-bn.onnx")
	injected := strings.TrimSuffix(cnn, ".onnx") + ".xreg.onnx"
	if _, err := runInjectCLI(cnn); err != nil {
		t.Fatal(err)
	}
	mlp := injectFixtureCopy(t, "mlp-ln-op13.onnx")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no model", nil, []string{"expected a model file"}},
		{"not ONNX", []string{text}, []string{text, "not an ONNX model"}},
		{"unsupported opset", []string{old}, []string{old, "opset 6 is not supported"}},
		{"already injected", []string{"-o", filepath.Join(dir, "twice.onnx"), injected}, []string{injected, "already injected"}},
		{"output is input", []string{"--force", "-o", cnn, cnn}, []string{"--output", cnn, "is also an input"}},
		{"non-image input", []string{"--augment", "rotate", mlp}, []string{mlp, `--augment "rotate": needs an image input`, "N×C×H×W", `"input"`}},
		{"bad augment-init", []string{"--augment", "rotate", "--augment-init", "rotate:15", cnn}, []string{"--augment-init", `"rotate:15"`}},
		{"bad mode", []string{"--dry-run", "--mode", "both", cnn}, []string{cnn, `--mode "both"`}},
		{"zero sigma0", []string{"--dry-run", "--sigma0", "0", cnn}, []string{"--sigma0 0"}},
		{"where selects none", []string{"--dry-run", "--where", "^conv", cnn}, []string{cnn, `--where "^conv" / --skip "" select none of its 2 points`}},
		{"norm selects none", []string{"--dry-run", "--norm", "l2", "--where", "^nothing$", cnn}, []string{cnn, `--norm l2: --where "^nothing$" / --skip "" select none of its`, "weight nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runInjectCLI(tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestInjectOptionErrors: a setting inject cannot honour is named by its flag, not by the
// library's Options field.
func TestInjectOptionErrors(t *testing.T) {
	model := filepath.Join("..", "..", "testdata", "models", "cnn-bn.onnx")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dry-run", "--mode", "both", model}, `inject: --mode "both": is not supported (want additive or multiplicative)`},
		{[]string{"--dry-run", "--at", "Nope", model}, `inject: --at "Nope": matches no node's op type or name`},
		{[]string{"--dry-run", "--augment", "rotate,rotate", model}, `inject: --augment "rotate": is listed twice`},
	} {
		_, err := runInjectCLI(tc.args...)
		if want := strings.Replace(tc.want, "inject: ", "inject: "+model+": ", 1); err == nil || err.Error() != want {
			t.Errorf("inject %v: error %v, want %q", tc.args, err, want)
		}
	}
}
