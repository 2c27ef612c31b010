package onnximport

import (
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

func TestDecodeTensor(t *testing.T) {
	for _, c := range []struct {
		name      string
		p         *onnxpb.TensorProto
		wantFloat []float32
		wantInt   []int64
	}{
		{"float typed", &onnxpb.TensorProto{DataType: ptr(int32(1)), Dims: []int64{3}, FloatData: []float32{1, -2.5, 3}}, []float32{1, -2.5, 3}, nil},
		// 1.0 = 0x3f800000, -2.5 = 0xc0200000, little endian.
		{"float raw", &onnxpb.TensorProto{DataType: ptr(int32(1)), Dims: []int64{2}, RawData: []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0}}, []float32{1, -2.5}, nil},
		{"double typed", &onnxpb.TensorProto{DataType: ptr(int32(11)), Dims: []int64{2}, DoubleData: []float64{0.5, 1e-3}}, []float32{0.5, 1e-3}, nil},
		// binary16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001.
		{"float16 raw", &onnxpb.TensorProto{DataType: ptr(int32(10)), Dims: []int64{4}, RawData: []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00}}, []float32{1, -2, 65504, float32(math.Pow(2, -24))}, nil},
		{"int64 raw", &onnxpb.TensorProto{DataType: ptr(int32(7)), Dims: []int64{2}, RawData: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 0, 0, 0, 0}}, nil, []int64{-1, 5}},
		{"int64 typed", &onnxpb.TensorProto{DataType: ptr(int32(7)), Dims: []int64{1, 2}, Int64Data: []int64{7, -8}}, nil, []int64{7, -8}},
		{"int32 typed", &onnxpb.TensorProto{DataType: ptr(int32(6)), Dims: []int64{2}, Int32Data: []int32{-3, 4}}, nil, []int64{-3, 4}},
		{"int8 raw", &onnxpb.TensorProto{DataType: ptr(int32(3)), Dims: []int64{2}, RawData: []byte{0xfe, 0x7f}}, nil, []int64{-2, 127}},
		{"bool raw", &onnxpb.TensorProto{DataType: ptr(int32(9)), Dims: []int64{2}, RawData: []byte{1, 0}}, nil, []int64{1, 0}},
		{"scalar", &onnxpb.TensorProto{DataType: ptr(int32(1)), FloatData: []float32{4}}, []float32{4}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeTensor(c.p)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantFloat != nil && !reflect.DeepEqual(got.Float, c.wantFloat) {
				t.Errorf("float %v, want %v", got.Float, c.wantFloat)
			}
			if c.wantInt != nil && !reflect.DeepEqual(got.Int, c.wantInt) {
				t.Errorf("int %v, want %v", got.Int, c.wantInt)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	f := NewFloatTensor("w", []int{2, 2}, []float32{1, float32(math.Inf(-1)), -0.0, 3.25})
	p, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeTensor(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Float {
		if math.Float32bits(back.Float[i]) != math.Float32bits(f.Float[i]) {
			t.Fatalf("element %d: %v != %v", i, back.Float[i], f.Float[i])
		}
	}
	i := NewIntTensor("s", []int{3}, []int64{-1, 0, 1 << 40})
	p, _ = i.Encode()
	back, _ = DecodeTensor(p)
	if !reflect.DeepEqual(back.Int, i.Int) || !reflect.DeepEqual(back.Dims, []int{3}) {
		t.Fatalf("int round trip %v %v", back.Int, back.Dims)
	}
}

// TestDecodeFloat32Raw decodes raw_data at every alignment of its first byte against values
// written here byte by byte (IEEE 754 binary32, little endian), and checks the documented sharing:
// an aligned raw_data on a little-endian machine is viewed, not copied.
func TestDecodeFloat32Raw(t *testing.T) {
	// 1.0 = 0x3f800000, -2.5 = 0xc0200000, the largest finite 0x7f7fffff, the smallest subnormal
	// 0x00000001, -0 = 0x80000000, +Inf = 0x7f800000.
	bytes := []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0xff, 0xff, 0x7f, 0x7f, 1, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x80, 0x7f}
	want := []uint32{0x3f800000, 0xc0200000, 0x7f7fffff, 0x00000001, 0x80000000, 0x7f800000}
	for off := 0; off < 8; off++ {
		buf := make([]byte, off+len(bytes))
		raw := buf[off:]
		copy(raw, bytes)
		got, err := DecodeTensor(&onnxpb.TensorProto{DataType: ptr(int32(1)), Dims: []int64{2, 3}, RawData: raw})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Float) != len(want) {
			t.Fatalf("offset %d: %d values, want %d", off, len(got.Float), len(want))
		}
		for i, w := range want {
			if b := math.Float32bits(got.Float[i]); b != w {
				t.Errorf("offset %d: element %d has bits %#08x, want %#08x", off, i, b, w)
			}
		}
		aligned := uintptr(unsafe.Pointer(&raw[0]))%4 == 0
		if shared := unsafe.Pointer(&got.Float[0]) == unsafe.Pointer(&raw[0]); shared != (aligned && littleEndian) {
			t.Errorf("offset %d (aligned %v, little-endian %v): data shared with raw_data = %v", off, aligned, littleEndian, shared)
		}
		if cap(got.Float) != len(want) {
			t.Errorf("offset %d: cap %d, want %d (an append must not write into raw_data)", off, cap(got.Float), len(want))
		}
	}
	empty, err := DecodeTensor(&onnxpb.TensorProto{DataType: ptr(int32(1)), Dims: []int64{0, 3}, RawData: []byte{}})
	if err != nil || len(empty.Float) != 0 {
		t.Fatalf("empty tensor: %v, %v", empty, err)
	}
}
