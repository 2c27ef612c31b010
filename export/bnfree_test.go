package export_test

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// bnFreeVGG turns vgg11-bn-tiny into a VGG without normalization, as torchvision's vgg11 (no BN)
// with its classifier Dropouts: every BatchNormalization node is removed (its readers read the
// Conv output) and a Dropout (ratio 0.5, a Constant input, as opset-13 exporters write it) follows
// every ReLU that feeds a Gemm.
func bnFreeVGG(t *testing.T) *onnximport.Model {
	t.Helper()
	m := load(t, "vgg11-bn-tiny")
	gp := m.Proto.Graph
	rename := map[string]string{}
	var nodes []*onnxpb.NodeProto
	for _, n := range gp.Node {
		if n.GetOpType() == "BatchNormalization" {
			rename[n.Output[0]] = n.Input[0]
			continue
		}
		nodes = append(nodes, n)
	}
	half, err := onnximport.NewFloatTensor("", nil, []float32{0.5}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	var out []*onnxpb.NodeProto
	for _, n := range nodes {
		for i, in := range n.Input {
			if r, ok := rename[in]; ok {
				n.Input[i] = r
			}
		}
		out = append(out, n)
		if n.GetOpType() != "Relu" || !slices.ContainsFunc(m.Graph.Consumers[n.Output[0]], func(c *onnximport.Node) bool { return c.OpType == "Gemm" }) {
			continue
		}
		v := n.Output[0]
		ratio, dropped := v+"/ratio", v+"/dropout"
		out = append(out,
			&onnxpb.NodeProto{Name: proto.String(n.GetName() + "/ratio"), OpType: proto.String("Constant"), Output: []string{ratio},
				Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: half}}},
			&onnxpb.NodeProto{Name: proto.String(n.GetName() + "/Dropout"), OpType: proto.String("Dropout"), Input: []string{v, ratio}, Output: []string{dropped}})
		rename[v] = dropped
	}
	// Readers of a ReLU that got a Dropout read the Dropout.
	for _, n := range out {
		if n.GetOpType() == "Gemm" {
			if r, ok := rename[n.Input[0]]; ok {
				n.Input[0] = r
			}
		}
	}
	gp.Node = out
	var keep []*onnxpb.TensorProto
	for _, init := range gp.Initializer {
		if len(m.Graph.Consumers[init.GetName()]) == 0 || m.Graph.Consumers[init.GetName()][0].OpType != "BatchNormalization" {
			keep = append(keep, init)
		}
	}
	gp.Initializer = keep
	gp.ValueInfo = nil
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBNFreeVGGWithNoiseAtReLUsAndDropouts: a VGG without normalization gets learnable noise after
// every ReLU and Dropout (inject --at 'Relu|Dropout'; each Dropout becomes Gaussian dropout with
// σ0 = 1, its rate 0.5), fine-tunes with cross-regularization — every σ and every Conv/Gemm weight
// moves — and exports: the noise is gone, the model's nodes are all kept, the learned dropout rates
// are recorded, and onnxruntime gives the trainer's deterministic prediction.
func TestBNFreeVGGWithNoiseAtReLUsAndDropouts(t *testing.T) {
	m := bnFreeVGG(t)
	nodes := nodeNames(m)
	relus, dropouts := 0, 0
	for _, n := range m.Graph.Nodes {
		switch n.OpType {
		case "BatchNormalization":
			t.Fatal("the BN-free VGG has a BatchNormalization node")
		case "Relu":
			relus++
		case "Dropout":
			dropouts++
		}
	}
	if dropouts != 2 {
		t.Fatalf("%d Dropout nodes, want the classifier's 2", dropouts)
	}
	if _, err := inject.Apply(m.Clone(), inject.Options{}); err == nil {
		t.Fatal("inject without --at accepted a model without normalization")
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
	fineTune(t, m)
	exp := exportMatchesTrainer(t, m, nodes)
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
	t.Logf("%d ReLU and %d Dropout points", relus, dropouts)
}
