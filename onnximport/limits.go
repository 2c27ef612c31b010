package onnximport

import (
	"fmt"
	"math/bits"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// MaxTensorElements bounds the element count any tensor of a model may declare (2^28 ≈ 268 M,
// 1 GiB as float32): the largest fixture's largest tensor (vgg11's first classifier layer,
// 25088×4096 ≈ 103 M) fits with room to spare, while a crafted file declaring 10^12 elements is
// refused before anything is allocated.
const MaxTensorElements = 1 << 28

// MaxTensorRank bounds the number of dimensions a tensor may declare.
const MaxTensorRank = 32

// elementWidth is the size in bytes of one element of d in raw_data, 0 for a type the package
// does not decode.
func elementWidth(d DType) int {
	switch d {
	case Float64, Int64:
		return 8
	case Float32, Int32:
		return 4
	case Float16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	}
	return 0
}

// checkedNumel returns the element count of dims, refusing a negative dimension, more than
// MaxTensorRank dimensions and a count above MaxTensorElements; the multiplication cannot
// overflow (a count that would is above the limit). name and dims name the tensor in the error.
func checkedNumel(name string, dims []int64) (int, error) {
	if len(dims) > MaxTensorRank {
		return 0, fmt.Errorf("tensor %q: %d dimensions, more than the limit of %d", name, len(dims), MaxTensorRank)
	}
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension %d in dims %v", name, d, dims)
		}
		if d == 0 {
			return 0, nil // an empty tensor, whatever the other dimensions say
		}
	}
	n := uint64(1)
	for _, d := range dims {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > MaxTensorElements {
			return 0, fmt.Errorf("tensor %q: dims %v declare more than the limit of %d elements", name, dims, MaxTensorElements)
		}
		n = lo
	}
	return int(n), nil
}

// storedCount returns how many elements p holds, from raw_data or the typed field its element
// type uses, without decoding anything; -1 when raw_data's length is not a whole number of
// elements.
func storedCount(p *onnxpb.TensorProto, d DType) int {
	if p.RawData != nil {
		w := elementWidth(d)
		if w == 0 || len(p.RawData)%w != 0 {
			return -1
		}
		return len(p.RawData) / w
	}
	switch d {
	case Float32:
		return len(p.GetFloatData())
	case Float64:
		return len(p.GetDoubleData())
	case Int64:
		return len(p.GetInt64Data())
	}
	return len(p.GetInt32Data())
}

// checkTensorProto checks everything a TensorProto declares against what it holds, before
// anything is allocated: its dims (count within MaxTensorElements, no overflow), its element type
// and the number of elements stored. It returns the element count.
func checkTensorProto(p *onnxpb.TensorProto) (int, error) {
	name := p.GetName()
	n, err := checkedNumel(name, p.GetDims())
	if err != nil {
		return 0, err
	}
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(p.GetExternalData()) > 0 {
		return 0, fmt.Errorf("tensor %q: stored as external data, which is not supported; "+
			"re-save the model with all tensors inside the file (onnx.save_model(m, path, save_as_external_data=False))", name)
	}
	if p.Segment != nil {
		return 0, fmt.Errorf("tensor %q: segmented tensors are not supported", name)
	}
	d := DType(p.GetDataType())
	w := elementWidth(d)
	if w == 0 {
		return 0, fmt.Errorf("tensor %q: element type %v is not supported (float32, float64, float16, int64, int32, int8, uint8, bool are)", name, d)
	}
	if got := storedCount(p, d); got != n {
		if got < 0 {
			return 0, fmt.Errorf("tensor %q: raw_data holds %d bytes, not a whole number of %d-byte %v elements (dims %v)", name, len(p.RawData), w, d, p.GetDims())
		}
		return 0, fmt.Errorf("tensor %q: %d elements stored, dims %v need %d", name, got, p.GetDims(), n)
	}
	return n, nil
}

// checkSparseTensor checks the sizes a SparseTensorProto declares: its dims, and its values and
// indices tensors (values: [NNZ]; indices: [NNZ] or [NNZ, rank]), so that a crafted sparse tensor
// is refused by size even where sparse tensors are not supported.
func checkSparseTensor(sp *onnxpb.SparseTensorProto) error {
	vals := sp.GetValues()
	name := vals.GetName()
	if _, err := checkedNumel(name, sp.GetDims()); err != nil {
		return fmt.Errorf("sparse %w", err)
	}
	nnz, err := checkTensorProto(vals)
	if err != nil {
		return fmt.Errorf("sparse tensor %q values: %w", name, err)
	}
	if idx := sp.GetIndices(); idx != nil {
		ni, err := checkTensorProto(idx)
		if err != nil {
			return fmt.Errorf("sparse tensor %q indices: %w", name, err)
		}
		if ni != nnz && ni != nnz*len(sp.GetDims()) {
			return fmt.Errorf("sparse tensor %q: %d indices for %d values of a rank-%d tensor", name, ni, nnz, len(sp.GetDims()))
		}
	}
	return nil
}

// checkGraphSizes checks the declared sizes of every tensor a graph holds, used or not: its
// initializers, sparse initializers and every tensor-valued attribute of every node, subgraphs
// included (depth bounded by the protobuf decoder's own recursion limit).
func checkGraphSizes(gp *onnxpb.GraphProto) error {
	for _, tp := range gp.GetInitializer() {
		if _, err := checkTensorProto(tp); err != nil {
			return fmt.Errorf("initializer: %w", err)
		}
	}
	for _, sp := range gp.GetSparseInitializer() {
		if err := checkSparseTensor(sp); err != nil {
			return fmt.Errorf("sparse initializer: %w", err)
		}
	}
	for i, np := range gp.GetNode() {
		for _, ap := range np.GetAttribute() {
			where := func(err error) error {
				name := np.GetName()
				if name == "" {
					name = fmt.Sprintf("%s_%d", np.GetOpType(), i)
				}
				return fmt.Errorf("node %q (%s): attribute %q: %w", name, np.GetOpType(), ap.GetName(), err)
			}
			tensors := ap.GetTensors()
			if ap.T != nil {
				tensors = append([]*onnxpb.TensorProto{ap.T}, tensors...)
			}
			for _, tp := range tensors {
				if _, err := checkTensorProto(tp); err != nil {
					return where(err)
				}
			}
			sparse := ap.GetSparseTensors()
			if ap.SparseTensor != nil {
				sparse = append([]*onnxpb.SparseTensorProto{ap.SparseTensor}, sparse...)
			}
			for _, sp := range sparse {
				if err := checkSparseTensor(sp); err != nil {
					return where(err)
				}
			}
			graphs := ap.GetGraphs()
			if ap.G != nil {
				graphs = append([]*onnxpb.GraphProto{ap.G}, graphs...)
			}
			for _, sg := range graphs {
				if err := checkGraphSizes(sg); err != nil {
					return where(err)
				}
			}
		}
	}
	return nil
}
