package executor

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// opFixture is one case of testdata/ops.json (written by testdata/make_op_fixtures.py with numpy).
type opFixture struct {
	Name  string `json:"name"`
	Op    string `json:"op"`
	Opset int64  `json:"opset"`
	Attrs []struct {
		Name  string          `json:"name"`
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"attrs"`
	Inputs []struct {
		Name string    `json:"name"`
		Kind string    `json:"kind"`
		Dims []int     `json:"dims"`
		Data []float64 `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Dims []int     `json:"dims"`
		Data []float64 `json:"data"`
	} `json:"outputs"`
}

func loadOpFixtures(t *testing.T) []opFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ops.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []opFixture `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases in testdata/ops.json")
	}
	return f.Cases
}

// model builds the fixture's model and the feeds of its graph inputs.
func (c *opFixture) model(t *testing.T) (*onnximport.Model, map[string]*tensor.Dense) {
	t.Helper()
	var attrs []*onnxpb.AttributeProto
	for _, a := range c.Attrs {
		switch a.Type {
		case "int":
			var v int64
			mustUnmarshal(t, a.Value, &v)
			attrs = append(attrs, intAttr(a.Name, v))
		case "ints":
			var v []int64
			mustUnmarshal(t, a.Value, &v)
			attrs = append(attrs, intsAttr(a.Name, v...))
		case "float":
			var v float32
			mustUnmarshal(t, a.Value, &v)
			attrs = append(attrs, floatAttr(a.Name, v))
		case "string":
			var v string
			mustUnmarshal(t, a.Value, &v)
			attrs = append(attrs, stringAttr(a.Name, v))
		default:
			t.Fatalf("attribute type %q", a.Type)
		}
	}
	feeds := map[string]*tensor.Dense{}
	var ins []testInput
	for _, in := range c.Inputs {
		switch in.Kind {
		case "graph":
			ins = append(ins, fed(in.Name, in.Dims))
			feeds[in.Name] = denseOf(in.Dims, in.Data)
		case "int", "bool":
			v := make([]int64, len(in.Data))
			for i, x := range in.Data {
				v[i] = int64(x)
			}
			ti := intConst(in.Name, in.Dims, v...)
			if in.Kind == "bool" {
				ti.DType = onnximport.Bool
			}
			ins = append(ins, ti)
		case "float":
			ins = append(ins, floatConst(in.Name, in.Dims, f32s(in.Data)...))
		case "empty":
			ins = append(ins, absent())
		default:
			t.Fatalf("input kind %q", in.Kind)
		}
	}
	return oneNodeModel(t, c.Opset, c.Op, ins, attrs...), feeds
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func f32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// TestOpsAgainstNumpy runs every fixture case in float32 and float64 and compares the outputs with
// numpy's.
func TestOpsAgainstNumpy(t *testing.T) {
	for _, c := range loadOpFixtures(t) {
		t.Run(c.Name, func(t *testing.T) {
			m, feeds := c.model(t)
			for _, f64 := range []bool{false, true} {
				net, err := Build(m, BuildOptions{Float64: f64})
				if err != nil {
					t.Fatalf("float64=%v: build: %v", f64, err)
				}
				outs, err := net.Run(feeds, Noise{})
				if err != nil {
					t.Fatalf("float64=%v: run: %v", f64, err)
				}
				tol := 2e-6
				if f64 {
					tol = 1e-12
				}
				for i, want := range c.Outputs {
					got := outs[i]
					if !got.Shape().Eq(tensor.Shape(want.Dims)) && !(len(want.Dims) == 0 && got.Shape().Dims() == 0) {
						t.Fatalf("float64=%v: output %d has shape %v, numpy %v", f64, i, got.Shape(), want.Dims)
					}
					g := toFloat64(got)
					if len(g) != len(want.Data) {
						t.Fatalf("float64=%v: output %d has %d values, numpy %d", f64, i, len(g), len(want.Data))
					}
					for j := range g {
						if !nearlyEqual(g[j], want.Data[j], tol) {
							t.Fatalf("float64=%v: output %d element %d = %.9g, numpy %.9g", f64, i, j, g[j], want.Data[j])
						}
					}
				}
			}
		})
	}
}

// nearlyEqual compares with a relative tolerance (absolute near zero).
func nearlyEqual(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// TestGemmKernel compares the gemm helper (including its re-layout for Gonum's fast kernel) with a
// naive triple loop, for every transposition, strided operands and an accumulating beta.
func TestGemmKernel(t *testing.T) {
	const m, n, k, pad = 40, 30, 50, 3
	r := rand.New(rand.NewPCG(5, 6))
	fill := func(s []float64) {
		for i := range s {
			s[i] = r.Float64()*2 - 1
		}
	}
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			ar, ac := m, k
			if tA {
				ar, ac = k, m
			}
			br, bc := k, n
			if tB {
				br, bc = n, k
			}
			lda, ldb, ldc := ac+pad, bc+pad, n+pad
			a, b, c := make([]float64, ar*lda), make([]float64, br*ldb), make([]float64, m*ldc)
			fill(a)
			fill(b)
			fill(c)
			want := append([]float64(nil), c...)
			at := func(i, l int) float64 {
				if tA {
					return a[l*lda+i]
				}
				return a[i*lda+l]
			}
			bt := func(l, j int) float64 {
				if tB {
					return b[j*ldb+l]
				}
				return b[l*ldb+j]
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for l := 0; l < k; l++ {
						s += at(i, l) * bt(l, j)
					}
					want[i*ldc+j] = 0.5*s + 2*want[i*ldc+j]
				}
			}
			gemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 2, c, ldc)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					if math.Abs(c[i*ldc+j]-want[i*ldc+j]) > 1e-12 {
						t.Fatalf("tA=%v tB=%v: c[%d][%d] = %v, want %v", tA, tB, i, j, c[i*ldc+j], want[i*ldc+j])
					}
				}
			}
			// the padding columns of c are untouched
			for i := 0; i < m; i++ {
				for j := n; j < ldc; j++ {
					if c[i*ldc+j] != want[i*ldc+j] {
						t.Fatalf("tA=%v tB=%v: padding c[%d][%d] changed", tA, tB, i, j)
					}
				}
			}
		}
	}
}
