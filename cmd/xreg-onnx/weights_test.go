package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestTrainRefusesUntrainableWeight: a Conv weight the model computes from constants (here a Mul
// of two Constant nodes) cannot be trained; inspect lists it and train refuses with one line
// naming it, instead of training around it with the weight silently fixed. A --trainable pattern
// that selects nothing is refused too.
func TestTrainRefusesUntrainableWeight(t *testing.T) {
	dir := t.TempDir()
	m, err := onnximport.Load(fixture("models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	gp := m.Proto.Graph
	var keep []*onnxpb.TensorProto
	var w *onnxpb.TensorProto
	for _, init := range gp.Initializer {
		if init.GetName() == "conv1.weight" {
			w = proto.Clone(init).(*onnxpb.TensorProto)
			continue
		}
		keep = append(keep, init)
	}
	w.Name = nil
	two, err := onnximport.NewFloatTensor("", nil, []float32{2}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	constant := func(out string, v *onnxpb.TensorProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{Name: proto.String(out + "/Constant"), OpType: proto.String("Constant"), Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: v}}}
	}
	gp.Initializer = keep
	gp.Node = append([]*onnxpb.NodeProto{constant("w.half", w), constant("two", two),
		{Name: proto.String("dequantize"), OpType: proto.String("Mul"), Input: []string{"w.half", "two"}, Output: []string{"conv1.weight"}}}, gp.Node...)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "computed.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	out, err := command("inspect", model).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "weights that cannot be trained 1") || !strings.Contains(string(out), `"dequantize" (Mul)`) {
		t.Errorf("inspect does not list the untrainable weight (%v):\n%s", err, out)
	}
	injected := filepath.Join(dir, "computed.xreg.onnx")
	if out, err := command("inject", "-o", injected, model).CombinedOutput(); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
	common := []string{"train", "-o", filepath.Join(dir, "out.onnx"), "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"),
		"--limit", "64", "--reg-fraction", "0.25", "--epochs", "1", "--batch-size", "16"}
	for _, c := range []struct {
		name  string
		extra []string
		want  []string
	}{
		{"computed weight", nil, []string{`"conv1.weight"`, `"dequantize" (Mul)`, "cannot be trained"}},
		{"selection of nothing", []string{"--trainable", "^nothing$"}, []string{`"^nothing$"`, "selects no"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := command(append(append(common, c.extra...), injected)...).CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			s := lines[len(lines)-1]
			if err == nil || !strings.HasPrefix(s, "xreg-onnx: ") || strings.Contains(string(out), "goroutine") {
				t.Fatalf("want an error line, got (%v):\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("error %q lacks %q", s, w)
				}
			}
		})
	}
}

// TestInjectAt: --at puts the noise after the selected nodes of a model; a model without
// normalization is refused without it, with advice naming --at.
func TestInjectAt(t *testing.T) {
	out, err := command("inject", "--dry-run", "--at", "^Relu$", fixture("models", "cnn-bn.onnx")).CombinedOutput()
	if s := string(out); err != nil || !strings.Contains(s, "/relu1/Relu") || !strings.Contains(s, "/relu2/Relu") || !strings.Contains(s, "dry run: 2 noise") {
		t.Errorf("inject --at ^Relu$ (%v):\n%s", err, out)
	}
	out, err = command("inject", "--dry-run", "--at", "^NoSuchOp$", fixture("models", "cnn-bn.onnx")).CombinedOutput()
	if s := strings.TrimSpace(string(out)); err == nil || strings.Contains(s, "\n") || !strings.Contains(s, "--at") {
		t.Errorf("inject --at matching nothing: want one error line naming --at, got (%v):\n%s", err, s)
	}
}

// TestInspectWeights: inspect lists every trainable weight with where it lives, on torch 1.13's
// export of a torchvision-initialized net (BatchNorm tensors through Identity nodes from shared
// initializers; facts from scripts/make_dedup_fixture.py's graph).
func TestInspectWeights(t *testing.T) {
	out, err := command("inspect", filepath.Join("..", "..", "export", "testdata", "torch-dedup.onnx")).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, re := range []string{
		`trainable weights 14 \(10 params, 4 running statistics`,
		`bn2\.weight +\[4\] +param +Identity "[^"]+" of initializer "bn1\.weight"`,
		`bn1\.running_mean +\[4\] +state +Identity "[^"]+" of initializer "bn1\.bias"`,
		`conv1\.weight +\[4×1×3×3\] +param +initializer`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("inspect output lacks %s:\n%s", re, out)
		}
	}
}

// TestInspectTrainable: on the paddle2onnx-style vit of the zoo (weights in Constant nodes), inspect
// lists the decomposed layer norms' scale and bias as params, and the class token only when
// --trainable selects it, marked selected; a pattern that is not a regular expression is one line.
func TestInspectTrainable(t *testing.T) {
	model := filepath.Join("..", "..", "testdata", "zoo", "vit-rnd-op9-p2o.onnx")
	for _, c := range []struct {
		args       []string
		want, lack []string
	}{
		{nil, []string{`encoder\.ln\.weight +\[16\] +param +Constant node "const_encoder\.ln\.weight"`}, []string{`class_token`}},
		{[]string{"--trainable", "class_token"}, []string{`class_token +\[1×1×16\] +param \(selected\) +Constant node "const_class_token"`}, nil},
	} {
		out, err := command(append(append([]string{"inspect"}, c.args...), model)...).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect %v: %v\n%s", c.args, err, out)
		}
		for _, re := range c.want {
			if !regexp.MustCompile(re).Match(out) {
				t.Errorf("inspect %v lacks %s:\n%s", c.args, re, out)
			}
		}
		for _, re := range c.lack {
			if regexp.MustCompile(re).Match(out) {
				t.Errorf("inspect %v lists %s", c.args, re)
			}
		}
	}
	out, err := command("inspect", "--trainable", "(", model).CombinedOutput()
	if s := strings.TrimSpace(string(out)); err == nil || strings.Contains(s, "\n") || !strings.Contains(s, "--trainable") {
		t.Errorf("inspect --trainable '(': want one error line naming --trainable, got (%v):\n%s", err, s)
	}
}

// TestDropoutPoint: inject --at Dropout turns a Dropout node (rate 0.2) into learnable Gaussian
// dropout (σ0 = sqrt(0.2/0.8) = 0.5); after training, export reports the learned rate beside σ.
func TestDropoutPoint(t *testing.T) {
	dir := t.TempDir()
	m, err := onnximport.Load(fixture("models", "mlp-ln-op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	gp := m.Proto.Graph
	relu := ""
	for _, n := range gp.Node {
		if n.GetOpType() == "Relu" {
			relu = n.Output[0]
			break
		}
	}
	for _, n := range gp.Node {
		for i, in := range n.Input {
			if in == relu {
				n.Input[i] = relu + "/dropped"
			}
		}
	}
	rate, err := onnximport.NewFloatTensor("", nil, []float32{0.2}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	gp.Node = append(gp.Node,
		&onnxpb.NodeProto{Name: proto.String("rate"), OpType: proto.String("Constant"), Output: []string{"rate"},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: rate}}},
		&onnxpb.NodeProto{Name: proto.String("dropout"), OpType: proto.String("Dropout"), Input: []string{relu, "rate"}, Output: []string{relu + "/dropped"}})
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	m.SortNodes()
	model := filepath.Join(dir, "mlp-dropout.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	injected, trained, final := filepath.Join(dir, "i.onnx"), filepath.Join(dir, "t.onnx"), filepath.Join(dir, "e.onnx")
	out, err := command("inject", "--at", "^Dropout$", "-o", injected, model).CombinedOutput()
	if err != nil || !regexp.MustCompile(`dropout +Dropout .*multiplicative`).Match(out) {
		t.Fatalf("inject --at Dropout (%v):\n%s", err, out)
	}
	if out, err := command("train", "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), "--limit", "96", "--reg-fraction", "0.25",
		"--epochs", "1", "--batch-size", "24", "--reg-every", "1", "--mc", "2", "--reg-lr", "0.1", "-o", trained, injected).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	out, err = command("export", "-o", final, trained).CombinedOutput()
	if err != nil || !regexp.MustCompile(`at dropout: σ = [0-9.]+ \(Gaussian dropout: rate [0-9.]+, was 0\.2\)`).Match(out) {
		t.Fatalf("export does not report the learned dropout rate (%v):\n%s", err, out)
	}
}
