package executor

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the scaffolding shared by the package's custom Gorgonia ops.
//
// Every op of this package:
//   - has static shapes fixed at build time (InferShape returns them);
//   - writes its result into its output buffer, reused on every run, so that a training step
//     allocates (almost) nothing: the value a node holds after a run is overwritten by the next run.
//     The executor lends the buffer from an Arena for the span between the op's run and its
//     value's last reader (SwapOutput), unless the node is a root or the net keeps every value;
//   - hashes to a unique code, so that Gorgonia never merges two nodes (and their buffers);
//   - represents an ONNX rank-0 value as a Gorgonia scalar (*gorgonia.F32 or *gorgonia.F64);
//   - differentiates symbolically: SymDiff adds nodes of backward ops, which need not be
//     differentiable themselves.

// float is the element type of the kernels.
type float interface{ ~float32 | ~float64 }

var opCounter atomic.Uint64

// opBase implements the boring parts of gorgonia.Op.
type opBase struct {
	id      uint64
	name    string
	dt      tensor.Dtype
	inRanks []int
	out     tensor.Shape

	buf  *tensor.Dense // output buffer: lent by the executor (SwapOutput), or allocated on first use
	zero bool          // buf is zeroed before each use by kernels that accumulate
}

func newOpBase(name string, dt tensor.Dtype, out tensor.Shape, in ...*gorgonia.Node) opBase {
	ranks := make([]int, len(in))
	for i, n := range in {
		ranks[i] = n.Shape().Dims()
	}
	return opBase{id: opCounter.Add(1), name: name, dt: dt, inRanks: ranks, out: out.Clone()}
}

// SwapOutput installs d as the op's output buffer and returns the previous one (see Arena).
func (o *opBase) SwapOutput(d *tensor.Dense) *tensor.Dense {
	old := o.buf
	o.buf = d
	return old
}

var tvA = hm.TypeVariable('a')

func rankType(r int) hm.Type {
	if r == 0 {
		return tvA
	}
	return gorgonia.TensorType{Dims: r, Of: tvA}
}

func (o *opBase) Arity() int { return len(o.inRanks) }

func (o *opBase) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.inRanks)+1)
	for _, r := range o.inRanks {
		ts = append(ts, rankType(r))
	}
	ts = append(ts, rankType(o.out.Dims()))
	return hm.NewFnType(ts...)
}

func (o *opBase) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) { return o.out.Clone(), nil }
func (o *opBase) ReturnsPtr() bool                                      { return false }
func (o *opBase) CallsExtern() bool                                     { return false }
func (o *opBase) OverwritesInput() int                                  { return -1 }
func (o *opBase) WriteHash(h hash.Hash)                                 { fmt.Fprintf(h, "xreg.%s#%d", o.name, o.id) }
func (o *opBase) String() string                                        { return o.name }

func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// outSlice returns the op's output buffer as a slice of len(out) elements (1 for a scalar).
func outSlice[T float](o *opBase) []T {
	n := o.out.TotalSize()
	if o.out.Dims() == 0 {
		n = 1
	}
	if o.buf == nil || o.buf.Dtype() != dtypeOf[T]() || o.buf.DataSize() != n {
		o.buf = tensor.New(tensor.WithShape(n), tensor.WithBacking(make([]T, n)))
		if o.out.Dims() > 0 {
			if err := o.buf.Reshape(o.out...); err != nil {
				panic(fmt.Sprintf("executor: reshape own buffer: %v", err)) // cannot happen: same size
			}
		}
	}
	return denseData[T](o.buf)
}

// result returns the op's output value after outSlice was filled.
func result[T float](o *opBase) gorgonia.Value {
	if o.out.Dims() == 0 {
		v := denseData[T](o.buf)[0]
		switch x := any(v).(type) {
		case float32:
			return gorgonia.NewF32(x)
		case float64:
			return gorgonia.NewF64(x)
		}
	}
	return o.buf
}

func dtypeOf[T float]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

// denseData returns the backing slice of a non-view dense tensor.
func denseData[T float](d *tensor.Dense) []T {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(d.Float32s()).([]T)
	}
	return any(d.Float64s()).([]T)
}

// valueData returns the elements of a Gorgonia value in row-major order.
func valueData[T float](v gorgonia.Value) ([]T, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.Dtype() != dtypeOf[T]() {
			return nil, fmt.Errorf("executor: got a %v tensor in a %v graph", x.Dtype(), dtypeOf[T]())
		}
		if x.IsMaterializable() {
			x = x.Materialize().(*tensor.Dense)
		}
		return denseData[T](x), nil
	case *gorgonia.F32:
		if y, ok := any([]float32{float32(*x)}).([]T); ok {
			return y, nil
		}
	case *gorgonia.F64:
		if y, ok := any([]float64{float64(*x)}).([]T); ok {
			return y, nil
		}
	}
	return nil, fmt.Errorf("executor: got a value of type %T (%v), want %v data", v, v.Dtype(), dtypeOf[T]())
}

// inputsData returns the data of every input.
func inputsData[T float](vs []gorgonia.Value) ([][]T, error) {
	out := make([][]T, len(vs))
	for i, v := range vs {
		d, err := valueData[T](v)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// doer is the typed body of an op: it reads the inputs and fills out.
type doer[T float] func(in [][]T, out []T) error

// run dispatches on the op's dtype, reads the inputs, fills the buffer and returns the value.
func run(o *opBase, vs []gorgonia.Value, f32 doer[float32], f64 doer[float64]) (gorgonia.Value, error) {
	if len(vs) != o.Arity() {
		return nil, fmt.Errorf("executor: %s: %d inputs, want %d", o.name, len(vs), o.Arity())
	}
	switch o.dt {
	case tensor.Float32:
		return runT(o, vs, f32)
	case tensor.Float64:
		return runT(o, vs, f64)
	}
	return nil, fmt.Errorf("executor: %s: dtype %v is not supported", o.name, o.dt)
}

func runT[T float](o *opBase, vs []gorgonia.Value, f doer[T]) (gorgonia.Value, error) {
	in, err := inputsData[T](vs)
	if err != nil {
		return nil, fmt.Errorf("executor: %s: %w", o.name, err)
	}
	out := outSlice[T](o)
	if o.zero {
		clear(out)
	}
	if err := f(in, out); err != nil {
		return nil, fmt.Errorf("executor: %s: %w", o.name, err)
	}
	return result[T](o), nil
}

// allTrue returns a DiffWRT answer.
func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// size returns the number of elements of a shape, 1 for a scalar.
func size(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func exp[T float](x T) T  { return T(math.Exp(float64(x))) }
func log[T float](x T) T  { return T(math.Log(float64(x))) }
func sqrt[T float](x T) T { return T(math.Sqrt(float64(x))) }
func tanh[T float](x T) T { return T(math.Tanh(float64(x))) }
func pow[T float](x, y T) T {
	return T(math.Pow(float64(x), float64(y)))
}
