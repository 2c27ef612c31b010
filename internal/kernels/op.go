package kernels

import (
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"runtime"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/par"
)

// Float is the element type of the kernels.
type Float interface{ ~float32 | ~float64 }

// plain supplies the gorgonia.Op methods that are the same for every op of the package: the
// output is never a view of an input, no cgo, no in-place input overwrite.
type plain struct{}

func (plain) ReturnsPtr() bool     { return false }
func (plain) CallsExtern() bool    { return false }
func (plain) OverwritesInput() int { return -1 }

// named is implemented by every op: String describes the op and all its parameters, so that it is
// also the op's hash input.
type named interface{ String() string }

func writeHash(h hash.Hash, op named) { _, _ = io.WriteString(h, op.String()) }

func hashOf(op named) uint32 {
	h := fnv.New32a()
	writeHash(h, op)
	return h.Sum32()
}

// tt is the Gorgonia type of a tensor of the given rank with element type variable a.
func tt(rank int) hm.Type { return &gorgonia.TensorType{Dims: rank, Of: hm.TypeVariable('a')} }

// fnType builds the function type in → … → out.
func fnType(ranks ...int) hm.Type {
	ts := make([]hm.Type, len(ranks))
	for i, r := range ranks {
		ts[i] = tt(r)
	}
	return hm.NewFnType(ts...)
}

// shapeArg checks the i-th InferShape argument against the shape the op was built for.
func shapeArg(op named, ds []gorgonia.DimSizer, i int, want tensor.Shape) error {
	if i >= len(ds) {
		return fmt.Errorf("kernels: %v: want at least %d inputs, got %d", op, i+1, len(ds))
	}
	s, ok := ds[i].(tensor.Shape)
	if !ok {
		return fmt.Errorf("kernels: %v: input %d: want a tensor.Shape, got %T", op, i, ds[i])
	}
	if !s.Eq(want) {
		return fmt.Errorf("kernels: %v: input %d has shape %v, the op was built for %v", op, i, s, want)
	}
	return nil
}

// inferShape checks the InferShape arguments against the input shapes the op was built for and
// returns a copy of its output shape.
func inferShape(op named, ds []gorgonia.DimSizer, out tensor.Shape, in ...tensor.Shape) (tensor.Shape, error) {
	for i, s := range in {
		if err := shapeArg(op, ds, i, s); err != nil {
			return nil, err
		}
	}
	return out.Clone(), nil
}

// do checks the values given to Do against the input shapes (see inputs) and runs the kernel of
// their element type.
func do[O named](op O, vs []gorgonia.Value, k32, k64 func(O, []*tensor.Dense) *tensor.Dense, shapes ...tensor.Shape) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, shapes...)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return k32(op, in), nil
	}
	return k64(op, in), nil
}

// inputs checks the values given to Do: their count, that they are dense tensors of one float type,
// and their shapes (a nil shape skips the check). It returns the tensors, materialising views.
func inputs(op named, vs []gorgonia.Value, shapes ...tensor.Shape) ([]*tensor.Dense, tensor.Dtype, error) {
	if len(vs) != len(shapes) {
		return nil, tensor.Dtype{}, fmt.Errorf("kernels: %v: want %d inputs, got %d", op, len(shapes), len(vs))
	}
	out := make([]*tensor.Dense, len(vs))
	var dt tensor.Dtype
	for i, v := range vs {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, dt, fmt.Errorf("kernels: %v: input %d: want a *tensor.Dense, got %T", op, i, v)
		}
		if d.RequiresIterator() {
			m, ok := d.Materialize().(*tensor.Dense)
			if !ok || m.RequiresIterator() {
				return nil, dt, fmt.Errorf("kernels: %v: input %d: cannot read a non-contiguous view", op, i)
			}
			d = m
		}
		if i == 0 {
			dt = d.Dtype()
			if dt != tensor.Float32 && dt != tensor.Float64 {
				return nil, dt, fmt.Errorf("kernels: %v: input %d has type %v, want float32 or float64", op, i, dt)
			}
		} else if d.Dtype() != dt {
			return nil, dt, fmt.Errorf("kernels: %v: input %d has type %v, input 0 has %v", op, i, d.Dtype(), dt)
		}
		if shapes[i] != nil && !d.Shape().Eq(shapes[i]) {
			return nil, dt, fmt.Errorf("kernels: %v: input %d has shape %v, the op was built for %v", op, i, d.Shape(), shapes[i])
		}
		if d.Shape().TotalSize() > d.DataSize() {
			return nil, dt, fmt.Errorf("kernels: %v: input %d: shape %v but only %d elements", op, i, d.Shape(), d.DataSize())
		}
		out[i] = d
	}
	return out, dt, nil
}

// data returns the elements of a dense float tensor of element type T.
func data[T Float](d *tensor.Dense) []T {
	n := d.Shape().TotalSize()
	return d.Data().([]T)[:n]
}

// newDense allocates a zeroed tensor of element type T.
func newDense[T Float](shape tensor.Shape) (*tensor.Dense, []T) {
	s := make([]T, shape.TotalSize())
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(s)), s
}

// outBuf is an op's output tensor, reused by every execution of the op: a node's value is valid
// until the op runs again (as for the other ops of the executor).
type outBuf struct {
	d *tensor.Dense
}

// output returns the op's output tensor of the given shape and element type, zeroed if zero is
// set (kernels that accumulate); other kernels overwrite every element.
func output[T Float](b *outBuf, shape tensor.Shape, zero bool) (*tensor.Dense, []T) {
	if b.d != nil && b.d.Shape().Eq(shape) {
		if s, ok := b.d.Data().([]T); ok {
			s = s[:shape.TotalSize()]
			if zero {
				clear(s)
			}
			return b.d, s
		}
	}
	d, s := newDense[T](shape)
	b.d = d
	return d, s
}

// gemm computes C = A·B + beta·C (each optionally transposed) with Gorgonia's BLAS.
func gemm[T Float](tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	impl := gorgonia.WhichBLAS()
	switch c := any(c).(type) {
	case []float32:
		impl.Sgemm(ta, tb, m, n, k, 1, any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), c, ldc)
	case []float64:
		impl.Dgemm(ta, tb, m, n, k, 1, any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), c, ldc)
	}
}

// workers returns how many goroutines to split n independent items of the given cost (in element
// operations each) over.
func workers(n, cost int) int {
	w := runtime.GOMAXPROCS(0)
	if w > n {
		w = n
	}
	// Below ~64k element operations per worker, a goroutine costs more than it saves.
	if lim := n * cost / (1 << 16); w > lim {
		w = lim
	}
	if w < 1 {
		w = 1
	}
	return w
}

// parallel runs f over [0, n) split into w contiguous chunks (par.Run); f receives its worker index.
func parallel(n, w int, f func(worker, lo, hi int)) { par.Run(n, w, f) }

// scratch holds buffers an op reuses across executions, indexed by slot (typically the worker).
// Slots are taken before the workers start: buf is not safe for concurrent use. With a lender
// (SetLender), the buffers are lent for one execution instead and go back in release, so that an
// op holds no scratch memory between its runs.
type scratch struct {
	bufs   []any
	lender Lender
	lent   []*tensor.Dense
}

// Lender lends scratch memory for the span of one execution of an op (the executor's arena): Lend
// returns a dense tensor of n elements of type dt (contents undefined), or nil when it cannot;
// Return takes it back, after which the op no longer references it.
type Lender interface {
	Lend(dt tensor.Dtype, n int) *tensor.Dense
	Return(d *tensor.Dense)
}

// buf returns a slice of n elements for slot i (contents undefined): lent for this execution when
// the scratch has a lender, else the slot's own buffer.
func buf[T Float](s *scratch, i, n int) []T {
	if b, ok := lend[T](s, n); ok {
		return b
	}
	for len(s.bufs) <= i {
		s.bufs = append(s.bufs, nil)
	}
	if b, ok := s.bufs[i].([]T); ok && cap(b) >= n {
		return b[:n]
	}
	b := make([]T, n)
	s.bufs[i] = b
	return b
}

// lend returns n elements lent by the scratch's lender, if it has one that lends them.
func lend[T Float](s *scratch, n int) ([]T, bool) {
	if s.lender == nil {
		return nil, false
	}
	d := s.lender.Lend(dtypeOf[T](), n)
	if d == nil {
		return nil, false
	}
	b, ok := d.Data().([]T)
	if !ok || len(b) < n {
		s.lender.Return(d)
		return nil, false
	}
	s.lent = append(s.lent, d)
	return b[:n], true
}

// release gives back the buffers lent for this execution.
func (s *scratch) release() {
	for i, d := range s.lent {
		s.lender.Return(d)
		s.lent[i] = nil
	}
	s.lent = s.lent[:0]
}

// held returns the elements of the buffers the scratch keeps between executions (lent ones
// included until release).
func (s *scratch) held() int {
	n := 0
	for _, b := range s.bufs {
		switch b := b.(type) {
		case []float32:
			n += len(b)
		case []float64:
			n += len(b)
		}
	}
	for _, d := range s.lent {
		n += d.Shape().TotalSize()
	}
	return n
}

// setLender makes the scratch lend its buffers from l (nil: own them again); it drops the buffers
// it owned.
func (s *scratch) setLender(l Lender) {
	s.lender = l
	if l != nil {
		s.bufs = nil
	}
}

func dtypeOf[T Float]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

// prod returns the product of the dimensions.
func prod(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}
