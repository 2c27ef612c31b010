package executor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Parity of the Gorgonia forward pass with onnxruntime and with the torch outputs stored next to
// each fixture model (testdata/models; testdata/large too when XREG_LARGE=1).

// parityTol is the largest absolute difference allowed between the executor's outputs and
// onnxruntime's or torch's.
const parityTol = 1e-4

// parityExamples are the single examples run at batch 1 (several, and not only the first:
// residual nets at batch 1 were a known failure of another Go executor).
var parityExamples = []int{0, 7, 38, 63}

// parityFixture is one model of a fixture manifest.
type parityFixture struct {
	Name      string
	Dir       string
	File      string `json:"file"`
	BatchNorm int    `json:"batch_norm"`
	// OutputStd is the standard deviation of the torch outputs, for messages.
	OutputStd float64 `json:"output_std"`
}

func (f parityFixture) path(suffix string) string { return filepath.Join(f.Dir, f.Name+suffix) }

// parityFixtures lists the small fixtures, and the large ones when XREG_LARGE=1 and they exist.
func parityFixtures(t *testing.T) []parityFixture {
	t.Helper()
	fs, err := readFixtureManifest("../testdata/models")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("XREG_LARGE") == "1" {
		if _, err := os.Stat("../testdata/large/manifest.json"); err == nil {
			large, err := readFixtureManifest("../testdata/large")
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, large...)
		} else {
			t.Logf("XREG_LARGE=1 but testdata/large/manifest.json is missing (make fixtures-large): large fixtures not run")
		}
	}
	return fs
}

func readFixtureManifest(dir string) ([]parityFixture, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]parityFixture
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	var out []parityFixture
	for name, f := range m {
		f.Name, f.Dir = name, dir
		if _, err := os.Stat(filepath.Join(dir, f.File)); err != nil {
			return nil, fmt.Errorf("%s/manifest.json lists %s: %w", dir, f.File, err)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parityData is a fixture's reference input and torch output (64 examples each).
type parityData struct {
	X, Y           []float32
	XShape, YShape []int
}

func (d parityData) batch() int { return d.XShape[0] }

// example returns rows [i, i+n) of x and y.
func (d parityData) example(i, n int) (x, y []float32, xs, ys []int) {
	xk, yk := len(d.X)/d.batch(), len(d.Y)/d.batch()
	xs = append([]int{n}, d.XShape[1:]...)
	ys = append([]int{n}, d.YShape[1:]...)
	return d.X[i*xk : (i+n)*xk], d.Y[i*yk : (i+n)*yk], xs, ys
}

func readParityData(t *testing.T, f parityFixture) parityData {
	t.Helper()
	var d parityData
	var err error
	if d.X, d.XShape, err = npyRead(f.path(".input.npy")); err != nil {
		t.Fatal(err)
	}
	if d.Y, d.YShape, err = npyRead(f.path(".output.npy")); err != nil {
		t.Fatal(err)
	}
	if len(d.XShape) == 0 || len(d.YShape) == 0 || d.XShape[0] != d.YShape[0] || d.XShape[0] < 64 {
		t.Fatalf("%s: input %v and output %v must hold the same ≥ 64 examples", f.Name, d.XShape, d.YShape)
	}
	return d
}

// ortRun runs a session on one float32 input and returns its first output.
func ortRun(s *ort.Session, name string, x []float32, shape []int) ([]float32, []int, error) {
	sh := make([]int64, len(shape))
	for i, v := range shape {
		sh[i] = int64(v)
	}
	out, err := s.Run(ort.Tensor{Name: name, Shape: sh, Float32: x})
	if err != nil {
		return nil, nil, err
	}
	outShape := make([]int, len(out[0].Shape))
	for i, v := range out[0].Shape {
		outShape[i] = int(v)
	}
	return out[0].Float32, outShape, nil
}

// netRun runs a net on one input and returns its first output.
func netRun(net *Net, name string, x []float32, shape []int) ([]float32, []int, error) {
	out, err := net.Run(map[string]*tensor.Dense{name: f32Tensor(shape, x)}, Noise{})
	if err != nil {
		return nil, nil, err
	}
	y, err := tensorFloat32s(out[0])
	if err != nil {
		return nil, nil, err
	}
	return append([]float32(nil), y...), []int(out[0].Shape().Clone()), nil
}

// checkClose fails the test when got and want differ in shape or by more than parityTol.
func checkClose(t *testing.T, what string, got, want []float32, gotShape, wantShape []int) {
	t.Helper()
	if !shapesEqual(gotShape, wantShape) {
		t.Errorf("%s: shape %v, want %v", what, gotShape, wantShape)
		return
	}
	d := testutil.Compare(got, want, parityTol, 0)
	if d.Bad > 0 {
		t.Errorf("%s: %s (tolerance %g)", what, describe(d, got, want, wantShape), parityTol)
		return
	}
	t.Logf("%s: max |diff| %.2g", what, d.MaxAbs)
}

// snapshotState copies the net's running statistics.
func snapshotState(t *testing.T, net *Net) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for name := range net.State {
		v, ok := net.Values[name]
		if !ok {
			t.Fatalf("state %q has no value in Net.Values", name)
		}
		f, err := tensorFloat32s(v)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = append([]float32(nil), f...)
	}
	return out
}

// TestParity compares the eval-mode forward pass with onnxruntime and torch at batch 64 and on
// several single examples at batch 1, and checks that eval-mode passes leave the running
// statistics untouched.
func TestParity(t *testing.T) {
	for _, f := range parityFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(filepath.Join(f.Dir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Graph.Inputs) != 1 || len(m.Graph.Outputs) != 1 {
				t.Fatalf("fixture has %d inputs and %d outputs, want 1 and 1", len(m.Graph.Inputs), len(m.Graph.Outputs))
			}
			in := m.Graph.Inputs[0].Name
			d := readParityData(t, f)
			n := d.batch()

			net64, err := Build(m, BuildOptions{Batch: n})
			if err != nil {
				t.Fatal(err)
			}
			net1, err := Build(m, BuildOptions{Batch: 1, Values: net64.Values})
			if err != nil {
				t.Fatal(err)
			}
			if f.BatchNorm > 0 && len(net64.State) != 2*f.BatchNorm {
				t.Errorf("Net.State has %d running statistics, want %d (mean and variance of %d BatchNormalization nodes)",
					len(net64.State), 2*f.BatchNorm, f.BatchNorm)
			}
			before := snapshotState(t, net64)

			got64, shape64, err := netRun(net64, in, d.X, d.XShape)
			if err != nil {
				t.Fatalf("batch %d: %v", n, err)
			}
			checkClose(t, fmt.Sprintf("batch %d vs torch", n), got64, d.Y, shape64, d.YShape)

			got1 := make([][]float32, len(parityExamples))
			for k, i := range parityExamples {
				x, y, xs, ys := d.example(i, 1)
				g, gs, err := netRun(net1, in, x, xs)
				if err != nil {
					t.Fatalf("batch 1, example %d: %v", i, err)
				}
				got1[k] = g
				checkClose(t, fmt.Sprintf("batch 1, example %d vs torch", i), g, y, gs, ys)
			}
			// The same example again, after the others: nothing carries over between passes.
			x, _, xs, _ := d.example(parityExamples[0], 1)
			again, _, err := netRun(net1, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}
			if !testutil.BitsEqual(again, got1[0]) {
				t.Errorf("batch 1, example %d run again after examples %v: output changed (max |diff| %.3g): state leaks between passes",
					parityExamples[0], parityExamples[1:], testutil.Compare(again, got1[0], 0, 0).MaxAbs)
			}
			// Batch-1 outputs equal the matching rows of the batch-64 output.
			for k, i := range parityExamples {
				_, _, _, ys := d.example(i, 1)
				row := got64[i*len(got1[k]) : (i+1)*len(got1[k])]
				checkClose(t, fmt.Sprintf("batch 1 vs batch %d, example %d", n, i), got1[k], row, ys, ys)
			}

			after := snapshotState(t, net64)
			for name, v := range before {
				if !testutil.BitsEqual(after[name], v) {
					t.Errorf("running statistic %q changed during eval-mode passes", name)
				}
				if init := m.Graph.Initializers[name]; init == nil || !testutil.BitsEqual(v, init.Floats()) {
					t.Errorf("running statistic %q does not hold the model's initializer", name)
				}
			}

			orttest.Require(t) // skips without the library, fails when CI=true
			s, err := ort.Open(filepath.Join(f.Dir, f.File), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want64, wshape, err := ortRun(s, in, d.X, d.XShape)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, fmt.Sprintf("batch %d vs onnxruntime", n), got64, want64, shape64, wshape)
			for k, i := range parityExamples {
				x, _, xs, ys := d.example(i, 1)
				w, ws, err := ortRun(s, in, x, xs)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, fmt.Sprintf("batch 1, example %d vs onnxruntime", i), got1[k], w, ys, ws)
			}
		})
	}
}

// TestParityRoundTrip checks that onnximport's Load → Save changes nothing onnxruntime computes.
func TestParityRoundTrip(t *testing.T) {
	orttest.Require(t) // skips without the library, fails when CI=true
	for _, f := range parityFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			orig := filepath.Join(f.Dir, f.File)
			m, err := onnximport.Load(orig)
			if err != nil {
				t.Fatal(err)
			}
			saved := filepath.Join(t.TempDir(), f.File)
			if err := m.Save(saved); err != nil {
				t.Fatal(err)
			}
			d := readParityData(t, f)
			in := m.Graph.Inputs[0].Name
			var outs [2][]float32
			for k, p := range []string{orig, saved} {
				s, err := ort.Open(p, nil)
				if err != nil {
					t.Fatal(err)
				}
				outs[k], _, err = ortRun(s, in, d.X, d.XShape)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if !testutil.BitsEqual(outs[0], outs[1]) {
				t.Errorf("onnxruntime outputs differ between %s and its Load→Save copy (max |diff| %.3g); want bit-identical",
					f.File, testutil.Compare(outs[1], outs[0], 0, 0).MaxAbs)
			}
		})
	}
}

// TestParityTrainingBatchNorm compares a training-mode forward pass (BatchNormalization with batch
// statistics) with onnxruntime on a copy of the model whose BatchNormalization nodes are spelled
// out with batch statistics, then checks the running-statistics update against those batch
// statistics, and the following eval-mode pass against onnxruntime on the model with the updated
// statistics.
func TestParityTrainingBatchNorm(t *testing.T) {
	for _, f := range parityFixtures(t) {
		if f.BatchNorm == 0 || f.Dir != "../testdata/models" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			m, err := onnximport.Load(filepath.Join(f.Dir, f.File))
			if err != nil {
				t.Fatal(err)
			}
			in := m.Graph.Inputs[0].Name
			d := readParityData(t, f)
			const n = 16
			x, _, xs, ys := d.example(0, n)

			net, err := Build(m, BuildOptions{Batch: n, Training: true})
			if err != nil {
				t.Fatal(err)
			}
			before := snapshotState(t, net)
			got, gs, err := netRun(net, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}
			after := snapshotState(t, net)
			net.SetTraining(false)
			gotEval, _, err := netRun(net, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}

			orttest.Require(t) // skips without the library, fails when CI=true
			bnModel, stats, err := batchStatsModel(m, map[string][]int{in: xs})
			if err != nil {
				t.Fatal(err)
			}
			s, err := ort.OpenBytes(bnModel, f.Name+"-batchstats", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sh := []int64{}
			for _, v := range xs {
				sh = append(sh, int64(v))
			}
			outs, err := s.Run(ort.Tensor{Name: in, Shape: sh, Float32: x})
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, fmt.Sprintf("training-mode batch %d vs onnxruntime (batch statistics)", n), got, outs[0].Float32, gs, ys)

			// Running statistics: ONNX/PyTorch update with momentum (ONNX convention: the weight of
			// the old value); PyTorch stores the unbiased batch variance.
			updated := m.Clone()
			worst := 0.0
			for k, st := range stats {
				mean, biasedVar := outs[1+2*k].Float32, outs[2+2*k].Float32
				count := float64(st.Count)
				wantMean := make([]float32, len(mean))
				wantVar := make([]float32, len(mean))
				for c := range mean {
					wantMean[c] = float32(st.Momentum*float64(before[st.Mean][c]) + (1-st.Momentum)*float64(mean[c]))
					unbiased := float64(biasedVar[c]) * count / (count - 1)
					wantVar[c] = float32(st.Momentum*float64(before[st.Var][c]) + (1-st.Momentum)*unbiased)
				}
				for _, c := range []struct {
					name string
					want []float32
				}{{st.Mean, wantMean}, {st.Var, wantVar}} {
					dd := testutil.Compare(after[c.name], c.want, 1e-6, 2e-5)
					worst = max(worst, dd.MaxAbs)
					if dd.Bad > 0 {
						t.Errorf("running statistic %q after one training pass: %s (momentum %g, %d values per channel, unbiased variance)",
							c.name, describe(dd, after[c.name], c.want, []int{len(c.want)}), st.Momentum, st.Count)
					}
					if err := updated.SetInitializer(onnximport.NewFloatTensor(c.name, []int{len(c.want)}, after[c.name])); err != nil {
						t.Fatal(err)
					}
				}
			}

			t.Logf("running statistics after one training pass: max |diff| %.2g over %d BatchNormalization nodes", worst, len(stats))

			// Eval mode after the update uses the updated running statistics.
			data, err := updated.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s2, err := ort.OpenBytes(data, f.Name+"-updated", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			want, ws, err := ortRun(s2, in, x, xs)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "eval mode after a training pass vs onnxruntime with the updated statistics", gotEval, want, ys, ws)
		})
	}
}

// bnStats names one BatchNormalization node's running statistics and says how they are updated.
type bnStats struct {
	Mean, Var string
	Momentum  float64
	// Count is the number of values per channel in the batch statistics.
	Count int
}

// batchStatsModel returns a copy of m in which every BatchNormalization node computes
// y = (x − mean_B)/√(var_B + ε)·scale + bias with the batch mean and biased variance over all axes
// but the channel axis, out of ReduceMean/Sub/Mul/Add/Sqrt/Div/Reshape nodes that onnxruntime's
// inference build runs (its BatchNormalization has no training mode there). The batch mean and
// variance of node k become graph outputs 1+2k and 2+2k.
func batchStatsModel(m *onnximport.Model, inputs map[string][]int) ([]byte, []bnStats, error) {
	if m.Opset >= 18 {
		return nil, nil, fmt.Errorf("batchStatsModel: opset %d takes ReduceMean axes as an input; only opset < 18 is handled", m.Opset)
	}
	shapes, err := m.InferShapes(inputs, 1)
	if err != nil {
		return nil, nil, err
	}
	mp := proto.Clone(m.Proto).(*onnxpb.ModelProto)
	g := mp.Graph
	var nodes []*onnxpb.NodeProto
	var stats []bnStats
	f32 := int32(onnxpb.TensorProto_FLOAT)
	for k, np := range g.Node {
		if np.GetOpType() != "BatchNormalization" {
			nodes = append(nodes, np)
			continue
		}
		in := np.GetInput()
		xShape, ok := shapes[in[0]]
		if !ok || len(xShape) < 2 {
			return nil, nil, fmt.Errorf("batchStatsModel: node %q: input shape %v", np.GetName(), xShape)
		}
		eps, mom := float32(1e-5), 0.9
		for _, a := range np.GetAttribute() {
			switch a.GetName() {
			case "epsilon":
				eps = a.GetF()
			case "momentum":
				mom = float64(a.GetF())
			}
		}
		axes := []int64{0}
		target := []int64{1, -1}
		count := xShape[0]
		for i := 2; i < len(xShape); i++ {
			axes = append(axes, int64(i))
			target = append(target, 1)
			count *= xShape[i]
		}
		p := fmt.Sprintf("bnstats%d_", k)
		g.Initializer = append(g.Initializer,
			&onnxpb.TensorProto{Name: proto.String(p + "eps"), DataType: proto.Int32(f32), FloatData: []float32{eps}},
			&onnxpb.TensorProto{Name: proto.String(p + "shape"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)),
				Dims: []int64{int64(len(target))}, Int64Data: target})
		node := func(op string, ins []string, out string, attrs ...*onnxpb.AttributeProto) {
			nodes = append(nodes, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(p + out), Input: ins,
				Output: []string{out}, Attribute: attrs})
		}
		reduce := []*onnxpb.AttributeProto{
			{Name: proto.String("axes"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: axes},
			{Name: proto.String("keepdims"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)},
		}
		node("ReduceMean", []string{in[0]}, p+"mean", reduce...)
		node("Sub", []string{in[0], p + "mean"}, p+"centered")
		node("Mul", []string{p + "centered", p + "centered"}, p+"squared")
		node("ReduceMean", []string{p + "squared"}, p+"var", reduce...)
		node("Add", []string{p + "var", p + "eps"}, p+"vareps")
		node("Sqrt", []string{p + "vareps"}, p+"std")
		node("Div", []string{p + "centered", p + "std"}, p+"normed")
		node("Reshape", []string{in[1], p + "shape"}, p+"scale")
		node("Reshape", []string{in[2], p + "shape"}, p+"bias")
		node("Mul", []string{p + "normed", p + "scale"}, p+"scaled")
		node("Add", []string{p + "scaled", p + "bias"}, np.GetOutput()[0])
		for _, out := range []string{p + "mean", p + "var"} {
			g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(out), Type: &onnxpb.TypeProto{
				Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(f32)}}}})
		}
		stats = append(stats, bnStats{Mean: in[3], Var: in[4], Momentum: mom, Count: count})
	}
	g.Node = nodes
	// The running statistics are no longer read; drop them so the model stays tidy.
	used := map[string]bool{}
	for _, np := range nodes {
		for _, s := range np.GetInput() {
			used[s] = true
		}
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnxpb.TensorProto) bool { return !used[t.GetName()] })
	g.Input = slices.DeleteFunc(g.Input, func(v *onnxpb.ValueInfoProto) bool {
		_, isInit := m.Graph.Initializers[v.GetName()]
		return isInit && !used[v.GetName()]
	})
	data, err := proto.Marshal(mp)
	if err != nil {
		return nil, nil, err
	}
	return data, stats, nil
}
