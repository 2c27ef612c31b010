package zoo_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

func softmax64(z []float64) []float64 {
	f := make([]float32, len(z))
	for i, v := range z {
		f[i] = float32(v)
	}
	return softmax(f)
}

// TestTorchvisionVGGNoiseAtReLUsAndDropouts: torchvision's vgg11 (no BatchNorm, its own
// initialization), exported by torch 1.13 from train() with its classifier's two Dropouts (p = 0.5;
// scripts/make_zoo.py, extra.json). The executor refuses its Dropouts as exported (their random
// masks are not reproduced); inject
// refuses it without --at and with --at '^(Relu|Dropout)$' puts noise after every ReLU and turns
// each Dropout into Gaussian dropout (σ0 = 1, rate 0.5; the Dropout node in inference form), after
// which the deterministic prediction is torch's eval-mode output; three epochs of cross-regularized
// fine-tuning move every conv/fc weight and every σ, and the export runs in onnxruntime equal to the
// trainer's deterministic prediction, with the model's nodes all kept and the learned dropout rates
// recorded.
func TestTorchvisionVGGNoiseAtReLUsAndDropouts(t *testing.T) {
	orttest.Require(t)
	dir := filepath.Join("..", "..", "testdata", "zoo")
	es := readEntries(t, dir, "extra.json")
	i := slices.IndexFunc(es, func(e entry) bool { return e.Name == "vgg11-tv-op13-dropout" })
	if i < 0 {
		t.Fatal("testdata/zoo/extra.json has no vgg11-tv-op13-dropout")
	}
	e := es[i]
	m, err := onnximport.Load(filepath.Join(dir, e.File))
	if err != nil {
		t.Fatal(err)
	}
	relus, dropouts := 0, 0
	for _, n := range m.Graph.Nodes {
		switch n.OpType {
		case "BatchNormalization":
			t.Fatal("torchvision's vgg11 has a BatchNormalization node")
		case "Relu":
			relus++
		case "Dropout":
			dropouts++
		}
	}
	if dropouts != 2 {
		t.Fatalf("%d Dropout nodes, want the classifier's 2", dropouts)
	}

	var nodes []string
	for _, n := range m.Graph.Nodes {
		nodes = append(nodes, n.Name)
	}
	// As exported, its Dropouts draw random masks (training_mode = true), which the executor does
	// not reproduce: refused.
	x, shape := e.input()
	if _, err := netRun(m, x, shape, false); err == nil || !strings.Contains(err.Error(), "training-mode Dropout") {
		t.Fatalf("a net with training-mode Dropouts: %v, want the refusal", err)
	}

	if _, err := inject.Apply(m.Clone(), inject.Options{}); err == nil || !strings.Contains(err.Error(), "no normalization node") {
		t.Fatalf("inject without At: %v, want the no-normalization refusal", err)
	}
	rep, err := inject.Apply(m, inject.Options{At: "^(Relu|Dropout)$"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Regs) != relus+dropouts {
		t.Fatalf("%d noise points, want %d ReLUs + %d Dropouts", len(rep.Regs), relus, dropouts)
	}
	for _, r := range rep.Regs {
		if r.Op == "Dropout" && (r.Mode != inject.Multiplicative || r.Init != 0) {
			t.Errorf("Dropout point %s: mode %s, log σ0 %v; want multiplicative, log 1 = 0 (rate 0.5)", r.Point, r.Mode, r.Init)
		}
	}

	// Injected, its deterministic prediction (noise off, the Dropouts in inference form) is torch's
	// eval-mode output.
	set := e.set(x, shape)
	probs, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range probs {
		want := softmax64(e.TorchLogits[i*10 : (i+1)*10])
		for j := range p {
			if d := math.Abs(p[j] - want[j]); d > tol {
				t.Fatalf("image %d class %d: deterministic prediction %v, torch eval() %v", i, j, p[j], want[j])
			}
		}
	}

	before, err := fcWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := train(m, set, true, "", 3); err != nil {
		t.Fatal(err)
	}
	after, err := fcWeights(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 8+2*3 { // the 8 Conv weights, the 3 Gemm weights and biases
		t.Errorf("%d conv/fc weights, want 14", len(before))
	}
	for name, old := range before {
		if slices.Equal(old, after[name]) {
			t.Errorf("%s did not change in fine-tuning", name)
		}
	}
	exp, d, err := exportDiff(m, e, set, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range m.Graph.Nodes {
		got = append(got, n.Name)
	}
	if !slices.Equal(got, nodes) {
		t.Errorf("export nodes differ from the model's:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(nodes, " "))
	}
	rates := 0
	for _, l := range exp.Regs {
		if l.Sigma[0] == math.Exp(l.Init) {
			t.Errorf("σ of %s did not move from its initial value", l.Point)
		}
		if l.Op == "Dropout" {
			rates++
			if p := l.DropoutRate[0]; !(p > 0 && p < 1) || math.Abs(p-l.Sigma[0]*l.Sigma[0]/(1+l.Sigma[0]*l.Sigma[0])) > 1e-12 {
				t.Errorf("Dropout point %s: rate %v for σ %v", l.Point, p, l.Sigma[0])
			}
		}
	}
	if rates != dropouts {
		t.Errorf("%d learned dropout rates, want %d", rates, dropouts)
	}
	t.Logf("%d ReLU and %d Dropout points; max |export − trainer| = %.2g", relus, dropouts, d)
}

// TestDropoutMaskReadRefused: a training-form Dropout whose mask the graph uses (here: a graph
// output) cannot become a Gaussian-dropout point; inject refuses it, naming the node and the mask.
func TestDropoutMaskReadRefused(t *testing.T) {
	m, err := onnximport.Load(filepath.Join("..", "..", "testdata", "zoo", "vgg11-tv-op13-dropout.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var mask, node string
	for _, n := range m.Proto.Graph.Node {
		if n.GetOpType() == "Dropout" && len(n.Output) > 1 {
			mask, node = n.Output[1], n.GetName()
			break
		}
	}
	m.Proto.Graph.Output = append(m.Proto.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(mask)})
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err = inject.Apply(m, inject.Options{At: "^Dropout$"})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), node) || !strings.Contains(err.Error(), mask) {
		t.Fatalf("inject at a Dropout whose mask is a graph output: %v, want one line naming %s and %s", err, node, mask)
	}
}
