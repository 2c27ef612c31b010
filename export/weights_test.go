package export_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// asConstants rewrites m the way paddle2onnx, tf2onnx and frozen graphs store weights: every
// float initializer becomes a Constant node (named "<name>/Constant", output "<name>") placed
// before the other nodes, and the model has no initializers left.
func asConstants(t *testing.T, m *onnximport.Model) {
	t.Helper()
	gp := m.Proto.Graph
	var nodes []*onnxpb.NodeProto
	var keep []*onnxpb.TensorProto
	for _, init := range gp.Initializer {
		if init.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
			keep = append(keep, init)
			continue
		}
		name := init.GetName()
		val := proto.Clone(init).(*onnxpb.TensorProto)
		val.Name = nil
		nodes = append(nodes, &onnxpb.NodeProto{
			Name: proto.String(name + "/Constant"), OpType: proto.String("Constant"), Output: []string{name},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: val}},
		})
	}
	gp.Initializer = keep
	gp.Node = append(nodes, gp.Node...)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
}

// torchvisionDedup rewrites m the way torch ≥ 1.13 exports a torchvision-initialized model: every
// BatchNormalization takes weight 1, bias 0, running mean 0 and running variance 1, and then, as
// torch's initializer deduplication does, initializers with the same dims and values are merged:
// the first keeps its name, each later one becomes an Identity node (output: its own name) reading
// the first.
func torchvisionDedup(t *testing.T, m *onnximport.Model) {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.OpType != "BatchNormalization" {
			continue
		}
		for i, v := range []float32{1, 0, 0, 1} {
			w := m.Graph.Initializers[n.Input(i+1)]
			data := make([]float32, w.Size())
			for j := range data {
				data[j] = v
			}
			if err := m.SetInitializer(onnximport.NewFloatTensor(w.Name, w.Dims, data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	gp := m.Proto.Graph
	var keep []*onnxpb.TensorProto
	var ids []*onnxpb.NodeProto
	first := map[string]string{}
	for _, init := range gp.Initializer {
		tt := m.Graph.Initializers[init.GetName()]
		key := fmt.Sprint(tt.DType, tt.Dims, tt.Float, tt.Int)
		root, dup := first[key]
		if !dup {
			first[key] = init.GetName()
			keep = append(keep, init)
			continue
		}
		ids = append(ids, &onnxpb.NodeProto{Name: proto.String("Identity_" + init.GetName()), OpType: proto.String("Identity"),
			Input: []string{root}, Output: []string{init.GetName()}})
	}
	if len(ids) == 0 {
		t.Fatal("torchvisionDedup: nothing shared")
	}
	gp.Initializer = keep
	gp.Node = append(ids, gp.Node...)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
}

// weightValues returns the current value of every weight the model's Conv, Gemm and
// BatchNormalization nodes read, by the value name they read.
func weightValues(t *testing.T, m *onnximport.Model) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" && n.OpType != "BatchNormalization" {
			continue
		}
		for i, in := range n.Inputs {
			if i == 0 || in == "" {
				continue
			}
			w, err := m.ResolveWeight(in)
			if err != nil {
				t.Fatalf("%v input %d: %v", n, i, err)
			}
			out[in] = append([]float32(nil), w.Value.Floats()...)
		}
	}
	return out
}

// TestWeightsWhereverTheyLive: a model whose weights are Constant nodes, and a torchvision-style
// model whose BatchNorm parameters and running statistics arrive through Identity nodes from
// shared initializers, train like the plain model: every Conv, Gemm and BatchNormalization weight
// changes (each Identity-fed one on its own, not tied to the others sharing its root); the trained
// values are written back where they live (the Constant nodes; a shared root is un-shared), the
// export keeps every node of the model, and onnxruntime running the export gives the trainer's
// deterministic prediction.
func TestWeightsWhereverTheyLive(t *testing.T) {
	orttest.Require(t)
	for _, tc := range []struct {
		model   string
		rewrite func(*testing.T, *onnximport.Model)
		store   onnximport.WeightStore
	}{
		{"cnn-bn", asConstants, onnximport.StoreConstant},
		{"vgg11-bn-tiny", torchvisionDedup, onnximport.StoreIdentity},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m := load(t, tc.model)
			tc.rewrite(t, m)
			nodes := nodeNames(m)
			stored := 0
			for name := range weightValues(t, m) {
				if w, _ := m.ResolveWeight(name); w.Store == tc.store {
					stored++
				}
			}
			if stored == 0 {
				t.Fatalf("the rewritten model has no weight %s", tc.store)
			}
			t.Logf("%d weights %s", stored, tc.store)
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			fineTune(t, m)
			if tc.store == onnximport.StoreIdentity {
				checkUntied(t, m)
			}
			exportMatchesTrainer(t, m, nodes)
		})
	}
}

// fineTune trains injected m for one epoch on 48 bundled Fashion-MNIST images (regularization set:
// 16 more), every step a φ update, and writes the trained values back into m. It returns the
// weights weightValues saw before training.
func fineTune(t *testing.T, m *onnximport.Model) map[string][]float32 {
	t.Helper()
	return fineTuneSelecting(t, m, "")
}

// fineTuneSelecting is fineTune with TrainConfig.Trainable = trainable.
func fineTuneSelecting(t *testing.T, m *onnximport.Model, trainable string) map[string][]float32 {
	t.Helper()
	before := weightValues(t, m)
	train, err := dataset.Load("../testdata/fmnist-small/train-images-idx3-ubyte.gz", dataset.Options{Limit: 48})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := dataset.Load("../testdata/fmnist-small/reg-images-idx3-ubyte.gz", dataset.Options{Limit: 16})
	if err != nil {
		t.Fatal(err)
	}
	res, err := xreg.Train(m, train, reg, xreg.TrainConfig{Epochs: 1, BatchSize: 16, RegBatch: 8, MC: 2, RegEvery: 1, LR: 0.01, RegLR: 0.05, NoEpochEval: true, Trainable: trainable})
	if err != nil {
		t.Fatal(err)
	}
	if err := xreg.WriteBack(m, res.Values); err != nil {
		t.Fatal(err)
	}
	for name, v := range weightValues(t, m) {
		if slices.Equal(v, before[name]) {
			t.Errorf("weight %q did not change in training", name)
		}
	}
	return before
}

// exportMatchesTrainer exports trained m (a 1×28×28 classifier) deterministically and checks that
// the export keeps exactly the nodes named in nodes and that onnxruntime gives the trainer's
// deterministic prediction (xreg.Predict) on 16 test images.
func exportMatchesTrainer(t *testing.T, m *onnximport.Model, nodes []string) *export.Report {
	t.Helper()
	test, err := dataset.Load("../testdata/fmnist-small/test-images-idx3-ubyte.gz", dataset.Options{Limit: 16})
	if err != nil {
		t.Fatal(err)
	}
	want, err := xreg.Predict(m, test, nil, xreg.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := export.Apply(m, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range m.Proto.Graph.Node {
		got = append(got, n.GetName())
	}
	if !slices.Equal(got, nodes) {
		t.Errorf("export nodes differ from the model's:\n got %s\nwant %s", strings.Join(got, " "), strings.Join(nodes, " "))
	}
	probs := softmaxRows(runModel(t, m, test.X, []int64{int64(test.Len()), 1, 28, 28}).Float32, 10)
	d := 0.0
	for i, row := range want {
		for j, p := range row {
			d = math.Max(d, math.Abs(p-probs[i*10+j]))
		}
	}
	t.Logf("max |export − trainer| = %.2g", d)
	if d > 1e-4 {
		t.Errorf("export differs from the trainer's deterministic prediction by %g", d)
	}
	return rep
}

// nodeNames returns the names of m's nodes in file order.
func nodeNames(m *onnximport.Model) []string {
	var out []string
	for _, n := range m.Proto.Graph.Node {
		out = append(out, n.GetName())
	}
	return out
}

// TestTorchDeduplicatedBatchNorm: a torchvision-initialized net exported by torch 1.13 itself
// (scripts/make_dedup_fixture.py), whose BatchNorm parameters and running statistics come through
// Identity nodes from shared initializers: the trainer's deterministic pass matches torch's logits,
// training moves every weight on its own (none stays tied to another), and the export, with the
// diverged copies un-shared, runs in onnxruntime to the trainer's prediction.
func TestTorchDeduplicatedBatchNorm(t *testing.T) {
	orttest.Require(t)
	m, err := onnximport.Load("testdata/torch-dedup.onnx")
	if err != nil {
		t.Fatal(err)
	}
	identityFed := 0
	for name := range weightValues(t, m) {
		if w, _ := m.ResolveWeight(name); w.Store == onnximport.StoreIdentity {
			identityFed++
		}
	}
	if identityFed == 0 {
		t.Fatal("the fixture has no Identity-fed weight")
	}
	x, shape := readNPY(t, "testdata/torch-dedup.input.npy")
	want, _ := readNPY(t, "testdata/torch-dedup.output.npy")
	set := &dataset.Set{X: x, Shape: []int{1, 28, 28}, Y: make([]int, shape[0]), Classes: 10}
	got, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	torch := softmaxRows(want, 10)
	d := 0.0
	for i, row := range got {
		for j, p := range row {
			d = math.Max(d, math.Abs(p-torch[i*10+j]))
		}
	}
	if d > 1e-5 {
		t.Errorf("the trainer's pass differs from torch by %g", d)
	}
	nodes := nodeNames(m)
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		t.Fatal(err)
	}
	fineTune(t, m)
	checkUntied(t, m)
	exportMatchesTrainer(t, m, nodes)
	t.Logf("%d Identity-fed weights; trainer vs torch %.2g", identityFed, d)
}

// checkUntied fails when two weights of trained m hold equal values: weights that shared an
// initializer must have trained on their own (and been un-shared).
func checkUntied(t *testing.T, m *onnximport.Model) {
	t.Helper()
	seen := map[string]string{}
	for name, v := range weightValues(t, m) {
		key := fmt.Sprint(v)
		if other, dup := seen[key]; dup {
			t.Errorf("weights %q and %q are still equal after training: tied", name, other)
		}
		seen[key] = name
	}
}

// TestTrainableSelection: a Constant that feeds no weight slot (an input scale, Mul by a Constant
// node) stays fixed by default and trains when TrainConfig.Trainable selects it; its trained
// value is written back into the Constant node, and the export equals the trainer.
func TestTrainableSelection(t *testing.T) {
	orttest.Require(t)
	for _, selected := range []bool{false, true} {
		t.Run(fmt.Sprint("selected=", selected), func(t *testing.T) {
			m := load(t, "cnn-bn")
			asConstants(t, m)
			gp := m.Proto.Graph
			scale, err := onnximport.NewFloatTensor("", []int{1}, []float32{1.5}).Encode()
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range gp.Node {
				for i, in := range n.Input {
					if in == "input" {
						n.Input[i] = "input_scaled"
					}
				}
			}
			gp.Node = append([]*onnxpb.NodeProto{
				{Name: proto.String("input_scale"), OpType: proto.String("Constant"), Output: []string{"input_scale"},
					Attribute: []*onnxpb.AttributeProto{{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: scale}}},
				{Name: proto.String("scale_input"), OpType: proto.String("Mul"), Input: []string{"input", "input_scale"}, Output: []string{"input_scaled"}},
			}, gp.Node...)
			if err := m.Reload(); err != nil {
				t.Fatal(err)
			}
			nodes := nodeNames(m)
			if _, err := inject.Apply(m, inject.Options{}); err != nil {
				t.Fatal(err)
			}
			trainable := ""
			if selected {
				trainable = "^input_scale$"
			}
			fineTuneSelecting(t, m, trainable)
			v, err := onnximport.ConstantValue(m.Graph.Producer["input_scale"])
			if err != nil {
				t.Fatal(err)
			}
			if moved := v.Floats()[0] != 1.5; moved != selected {
				t.Errorf("selected %v: the input scale is %v after training (was 1.5)", selected, v.Floats()[0])
			}
			exportMatchesTrainer(t, m, nodes)
		})
	}
}
