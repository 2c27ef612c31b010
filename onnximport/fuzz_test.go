package onnximport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// FuzzDecodeTensor: any element type, dims and bytes (raw_data or a typed field) decode to a
// tensor of exactly the declared size within MaxTensorElements, or to an error; never a panic or
// a huge allocation (the 1e6×1e6, [3, 2^62] and [2^32, 2^32] crafted initializers are seeds).
func FuzzDecodeTensor(f *testing.F) {
	f.Add(int32(1), uint8(2), int64(2), int64(2), int64(1), []byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add(int32(11), uint8(2), int64(1_000_000), int64(1_000_000), int64(1), []byte{}, true)
	f.Add(int32(6), uint8(2), int64(1_000_000), int64(1_000_000), int64(1), []byte{1, 0, 0, 0}, true)
	f.Add(int32(1), uint8(2), int64(3), int64(1)<<62, int64(1), []byte{}, false)
	f.Add(int32(7), uint8(2), int64(1)<<32, int64(1)<<32, int64(1), []byte{}, false)
	f.Add(int32(10), uint8(3), int64(1)<<32, int64(1)<<32, int64(1)<<32, []byte{}, false)
	f.Add(int32(9), uint8(1), int64(3), int64(0), int64(0), []byte{1, 0, 1}, false)
	f.Add(int32(8), uint8(1), int64(1), int64(0), int64(0), []byte{}, true)
	f.Fuzz(func(t *testing.T, dtype int32, rank uint8, d0, d1, d2 int64, data []byte, typed bool) {
		p := &onnxpb.TensorProto{Name: ptr("t"), DataType: ptr(dtype)}
		p.Dims = []int64{d0, d1, d2}[:min(int(rank), 3)]
		if typed {
			// The same bytes as the typed field the element type uses.
			for i := 0; i+4 <= len(data); i += 4 {
				v := int32(data[i]) | int32(data[i+1])<<8 | int32(data[i+2])<<16 | int32(data[i+3])<<24
				p.Int32Data = append(p.Int32Data, v)
				p.FloatData = append(p.FloatData, float32(v))
				p.Int64Data = append(p.Int64Data, int64(v))
				p.DoubleData = append(p.DoubleData, float64(v))
			}
		} else {
			p.RawData = data
		}
		tt, err := DecodeTensor(p)
		if err != nil {
			return
		}
		n := tt.Size()
		if n < 0 || n > MaxTensorElements {
			t.Fatalf("dims %v: size %d outside [0, %d]", tt.Dims, n, MaxTensorElements)
		}
		if got := len(tt.Float) + len(tt.Int); got != n {
			t.Fatalf("dims %v: %d values, want %d", tt.Dims, got, n)
		}
	})
}

// FuzzParseModel: mutations of every fixture model parse to a valid model or an error; a model
// that parses also has its shapes inferred and writes back, without a panic.
func FuzzParseModel(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	demo, _ := filepath.Glob(filepath.Join("..", "testdata", "demo", "*.onnx"))
	for _, p := range append(paths, demo...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parse(data, true)
		if err != nil {
			return
		}
		m.KnownShapes()
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("a parsed model does not marshal: %v", err)
		}
	})
}
