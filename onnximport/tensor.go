package onnximport

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// DType is an ONNX tensor element type (TensorProto.DataType).
type DType int32

// The element types the package decodes.
const (
	Float32 DType = DType(onnxpb.TensorProto_FLOAT)
	Uint8   DType = DType(onnxpb.TensorProto_UINT8)
	Int8    DType = DType(onnxpb.TensorProto_INT8)
	Int32   DType = DType(onnxpb.TensorProto_INT32)
	Int64   DType = DType(onnxpb.TensorProto_INT64)
	Bool    DType = DType(onnxpb.TensorProto_BOOL)
	Float16 DType = DType(onnxpb.TensorProto_FLOAT16)
	Float64 DType = DType(onnxpb.TensorProto_DOUBLE)
)

func (d DType) String() string {
	if s, ok := onnxpb.TensorProto_DataType_name[int32(d)]; ok {
		return s
	}
	return fmt.Sprintf("DType(%d)", int32(d))
}

// IsFloat reports whether d is a floating-point type, decoded into Tensor.Float.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 || d == Float16 }

// Tensor is a decoded ONNX tensor. Floating-point types are held in Float (float64 and float16 are
// converted to float32), integer and boolean types in Int.
//
// A float32 tensor decoded from raw_data shares its memory with the TensorProto's bytes when the
// machine is little-endian and the bytes are 4-byte aligned (no copy: a 540 MB model is not held
// twice). The data of a decoded tensor is therefore read-only: to change an initializer, replace
// it (Model.SetInitializer), never write into its Float.
type Tensor struct {
	Name  string
	DType DType
	Dims  []int
	Float []float32
	Int   []int64
}

// Size returns the number of elements.
func (t *Tensor) Size() int { return numel(t.Dims) }

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// Floats returns the elements as float32, converting integers.
func (t *Tensor) Floats() []float32 {
	if t.DType.IsFloat() {
		return t.Float
	}
	out := make([]float32, len(t.Int))
	for i, v := range t.Int {
		out[i] = float32(v)
	}
	return out
}

// Ints returns the elements as int64, truncating floats.
func (t *Tensor) Ints() []int64 {
	if !t.DType.IsFloat() {
		return t.Int
	}
	out := make([]int64, len(t.Float))
	for i, v := range t.Float {
		out[i] = int64(v)
	}
	return out
}

// NewFloatTensor returns a float32 tensor; data is not copied.
func NewFloatTensor(name string, dims []int, data []float32) *Tensor {
	return &Tensor{Name: name, DType: Float32, Dims: append([]int(nil), dims...), Float: data}
}

// NewIntTensor returns an int64 tensor; data is not copied.
func NewIntTensor(name string, dims []int, data []int64) *Tensor {
	return &Tensor{Name: name, DType: Int64, Dims: append([]int(nil), dims...), Int: data}
}

// DecodeTensor decodes a TensorProto, from raw_data or the typed fields. A declared size that is
// negative, overflows, exceeds MaxTensorElements or differs from what the proto holds, external
// data and unsupported element types give an error naming the tensor, before anything is
// allocated.
func DecodeTensor(p *onnxpb.TensorProto) (*Tensor, error) {
	// Every size is checked against what p holds and against MaxTensorElements before anything
	// is allocated.
	n, err := checkTensorProto(p)
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: p.GetName(), DType: DType(p.GetDataType()), Dims: make([]int, len(p.GetDims()))}
	for i, d := range p.GetDims() {
		t.Dims[i] = int(d)
	}
	raw := p.GetRawData()
	hasRaw := p.RawData != nil
	switch t.DType {
	case Float32:
		if hasRaw {
			t.Float = float32View(raw, n)
		} else {
			t.Float = append([]float32(nil), p.GetFloatData()...)
		}
	case Float64:
		t.Float = make([]float32, n)
		if hasRaw {
			for i := range t.Float {
				t.Float[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		} else {
			for i, v := range p.GetDoubleData() {
				t.Float[i] = float32(v)
			}
		}
	case Float16:
		t.Float = make([]float32, n)
		if hasRaw {
			for i := range t.Float {
				t.Float[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		} else {
			for i, v := range p.GetInt32Data() {
				t.Float[i] = halfToFloat(uint16(v))
			}
		}
	case Int64:
		if hasRaw {
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		} else {
			t.Int = append([]int64(nil), p.GetInt64Data()...)
		}
	default: // Int32, Int8, Uint8, Bool (checkTensorProto refused every other type)
		t.Int = make([]int64, n)
		if hasRaw {
			for i := range t.Int {
				switch t.DType {
				case Int32:
					t.Int[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
				case Int8:
					t.Int[i] = int64(int8(raw[i]))
				default:
					t.Int[i] = int64(raw[i])
				}
			}
		} else {
			for i, v := range p.GetInt32Data() {
				t.Int[i] = int64(v)
			}
		}
	}
	return t, nil
}

// littleEndian is true on a machine that stores a float32 in the byte order of raw_data.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// float32View returns the n little-endian float32 values of raw (4n bytes): raw itself viewed as
// []float32 where the machine's byte order and raw's alignment allow it, else a decoded copy.
func float32View(raw []byte, n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	if littleEndian && uintptr(unsafe.Pointer(&raw[0]))%unsafe.Alignof(float32(0)) == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), n)
	}
	return float32Copy(raw, n)
}

// float32Copy decodes the n little-endian float32 values of raw into a new slice.
func float32Copy(raw []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// Encode returns the tensor as a TensorProto with raw_data, in t.DType (float32 or int64 for
// tensors built by this package).
func (t *Tensor) Encode() (*onnxpb.TensorProto, error) {
	p := &onnxpb.TensorProto{DataType: ptr(int32(t.DType))}
	if t.Name != "" {
		p.Name = ptr(t.Name)
	}
	for _, d := range t.Dims {
		p.Dims = append(p.Dims, int64(d))
	}
	n := t.Size()
	var raw []byte
	switch t.DType {
	case Float32:
		if len(t.Float) != n {
			return nil, fmt.Errorf("tensor %q: %d values for dims %v", t.Name, len(t.Float), t.Dims)
		}
		raw = make([]byte, 4*n)
		for i, v := range t.Float {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case Int64:
		if len(t.Int) != n {
			return nil, fmt.Errorf("tensor %q: %d values for dims %v", t.Name, len(t.Int), t.Dims)
		}
		raw = make([]byte, 8*n)
		for i, v := range t.Int {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	default:
		return nil, fmt.Errorf("tensor %q: encoding %v is not supported (float32 and int64 are)", t.Name, t.DType)
	}
	p.RawData = raw
	return p, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		v := float32(frac) / 1024 * float32(math.Pow(2, -14))
		if sign != 0 {
			return -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

func ptr[T any](v T) *T { return &v }
