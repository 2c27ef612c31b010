package inject_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestAt: --at puts the noise after the nodes it selects, with per-layer or per-channel σ on axis 1
// of the node's output, and refuses a selection that matches nothing or a non-float value. With σ
// = 0 onnxruntime runs the injected model exactly like the original.
func TestAt(t *testing.T) {
	for _, c := range []struct {
		model string
		opt   inject.Options
		want  []string // point:dims
		err   string
	}{
		{"cnn-bn", inject.Options{At: "^Relu$"}, []string{"/relu1/Relu:[1]", "/relu2/Relu:[1]"}, ""},
		{"cnn-bn", inject.Options{At: "Relu|MaxPool", Granularity: inject.Channel, Skip: "relu2"},
			[]string{"/relu1/Relu:[32 1 1]", "/pool1/MaxPool:[32 1 1]", "/pool2/MaxPool:[64 1 1]"}, ""},
		{"mlp-ln-op13", inject.Options{At: "^Gemm$", Granularity: inject.Channel, Where: "fc[12]"},
			[]string{"/fc1/Gemm:[256]", "/fc2/Gemm:[256]"}, ""},
		{"cnn-bn", inject.Options{At: "^Softmax$"}, nil, "matches no node"},
		{"mlp-ln-op13", inject.Options{At: "Constant"}, nil, "not a float activation"},
		{"cnn-bn", inject.Options{At: "Gemm"}, nil, "graph output"},
	} {
		t.Run(fmt.Sprintf("%s at %s where %s skip %s", c.model, c.opt.At, c.opt.Where, c.opt.Skip), func(t *testing.T) {
			m, err := onnximport.Load("../testdata/models/" + c.model + ".onnx")
			if err != nil {
				t.Fatal(err)
			}
			orig := m.Clone()
			rep, err := inject.Apply(m, c.opt)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.model) {
					t.Fatalf("error %v, want one naming the model and containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rep.Regs {
				got = append(got, fmt.Sprintf("%s:%v", r.Point, m.Graph.Initializers[r.Name].Dims))
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("points %v, want %v", got, c.want)
			}
			x, shape := readNPY(t, "../testdata/models/"+c.model+".input.npy")
			xs, s64 := firstSamples(x, shape, 4)
			want := run(t, session(t, orig), xs, s64)
			setRegs(t, m, rep.Regs, inject.KindNoise, -100) // σ = e^−100 = 0 in float32
			if d := testutil.MaxAbsDiff(t, run(t, session(t, m), xs, s64), want); d != 0 {
				t.Errorf("σ = 0: the injected model differs from the original by %g", d)
			}
		})
	}
}
