package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	register("Reshape", buildReshape)
	register("Flatten", buildFlatten)
	register("Transpose", buildTranspose)
	register("Concat", buildConcat)
}

// normAxis maps an axis in [-rank, rank) (or [-rank, rank] when inclusive) to [0, rank).
func normAxis(axis int64, rank int, inclusive bool) (int, error) {
	hi := int64(rank)
	if inclusive {
		hi++
	}
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= hi {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// foldable returns the build-time value of input i when it is a constant that is not a learnable
// parameter.
func (b *builder) foldable(n *onnximport.Node, i int) (*onnximport.Tensor, bool) {
	if b.isParam(n.Input(i)) {
		return nil, false
	}
	return b.Const(n, i)
}

// isParam reports whether the value is a float initializer or another weight (Identity or
// Constant output, see BuildOptions.Weights), which the net treats as learnable.
func (b *builder) isParam(name string) bool {
	if _, ok := b.weights[name]; ok {
		return true
	}
	t, ok := b.model.Graph.Initializers[name]
	return ok && t.DType.IsFloat()
}

// withDims returns a copy of t with other dims (same data).
func withDims(t *onnximport.Tensor, dims []int) *onnximport.Tensor {
	c := *t
	c.Dims = append([]int(nil), dims...)
	return &c
}

// ---- Reshape ----

func buildReshape(b *builder, n *onnximport.Node) error {
	st, ok := b.Const(n, 1)
	if !ok {
		return fmt.Errorf("%v: the shape input %q must be a constant", n, n.Input(1))
	}
	allowZero := n.Int("allowzero", 0) != 0
	if t, ok := b.foldable(n, 0); ok {
		dims, err := reshapeDims(t.Dims, st.Ints(), allowZero)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.SetConst(n, 0, withDims(t, dims))
		return nil
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	dims, err := reshapeDims(x.Shape(), st.Ints(), allowZero)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	out, err := b.reshape(x, dims)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, out)
	return nil
}

// reshapeDims resolves an ONNX Reshape shape: 0 copies the input dimension (unless allowZero),
// one -1 is inferred.
func reshapeDims(in []int, spec []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, s := range spec {
		switch {
		case s == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case s == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", spec, i, len(in))
			}
			out[i] = in[i]
		case s < 0:
			return nil, fmt.Errorf("shape %v has a negative dimension", spec)
		default:
			out[i] = int(s)
		}
		known *= out[i]
	}
	total := 1
	for _, d := range in {
		total *= d
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, spec)
		}
		out[infer] = total / known
		known *= out[infer]
	}
	if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, out)
	}
	return out, nil
}

// reshape returns x with another shape of the same size (x itself when the shape is the same).
func (b *builder) reshape(x *gorgonia.Node, shape []int) (*gorgonia.Node, error) {
	to := tensor.Shape(append([]int{}, shape...))
	if x.Shape().Eq(to) || (x.Shape().Dims() == 0 && len(shape) == 0) {
		return x, nil
	}
	if size(x.Shape()) != size(to) {
		return nil, fmt.Errorf("cannot reshape %v to %v", x.Shape(), to)
	}
	op := &reshapeOp{opBase: newOpBase(fmt.Sprintf("Reshape%v", to), b.dt, to, x)}
	return gorgonia.ApplyOp(op, x)
}

// reshapeOp copies its input into a buffer of another shape. (A copy is cheap and keeps the
// op's output from aliasing its input, which Gorgonia's in-place ops could otherwise overwrite.)
type reshapeOp struct{ opBase }

func (op *reshapeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		copy(out, in[0])
		return nil
	}, func(in [][]float64, out []float64) error {
		copy(out, in[0])
		return nil
	})
}

func (op *reshapeOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reshapeOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	s := inputs[0].Shape()
	g := &reshapeOp{opBase: newOpBase(fmt.Sprintf("Reshape%v", s), op.dt, s, grad)}
	n, err := gorgonia.ApplyOp(g, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// ---- Flatten ----

func buildFlatten(b *builder, n *onnximport.Node) error {
	var in []int
	t, isConst := b.foldable(n, 0)
	var x *gorgonia.Node
	if isConst {
		in = t.Dims
	} else {
		var err error
		if x, err = b.Input(n, 0); err != nil {
			return err
		}
		in = x.Shape()
	}
	axis, err := normAxis(n.Int("axis", 1), len(in), true)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	dims := []int{1, 1}
	for i, d := range in {
		if i < axis {
			dims[0] *= d
		} else {
			dims[1] *= d
		}
	}
	if isConst {
		b.SetConst(n, 0, withDims(t, dims))
		return nil
	}
	out, err := b.reshape(x, dims)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, out)
	return nil
}

// ---- Transpose ----

func buildTranspose(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	r := len(in)
	perm := make([]int, r)
	for i := range perm {
		perm[i] = r - 1 - i
	}
	if p := n.Ints("perm", nil); p != nil {
		if len(p) != r {
			return fmt.Errorf("%v: perm %v has %d entries for a rank-%d input", n, p, len(p), r)
		}
		seen := make([]bool, r)
		for i, v := range p {
			a, err := normAxis(v, r, false)
			if err != nil || seen[a] {
				return fmt.Errorf("%v: perm %v is not a permutation of 0..%d", n, p, r-1)
			}
			seen[a] = true
			perm[i] = a
		}
	}
	if _, ok := b.foldable(n, 0); ok { // shape arithmetic (the pads of swin's F.pad)
		return b.apply(n, 0, transposeSelection(in, perm))
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	out, err := b.transpose(x, perm)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, out)
	return nil
}

func (b *builder) transpose(x *gorgonia.Node, perm []int) (*gorgonia.Node, error) {
	identity := true
	for i, p := range perm {
		identity = identity && p == i
	}
	if identity {
		return x, nil
	}
	op := newTransposeOp(b.dt, x, perm)
	return gorgonia.ApplyOp(op, x)
}

// transposeOp permutes the axes of its input: out.shape[i] = in.shape[perm[i]].
type transposeOp struct {
	opBase
	perm    []int
	strides []int // input strides, in output axis order
}

func newTransposeOp(dt tensor.Dtype, x *gorgonia.Node, perm []int) *transposeOp {
	in := x.Shape()
	out := make(tensor.Shape, len(perm))
	inStrides := make([]int, len(in))
	k := 1
	for i := len(in) - 1; i >= 0; i-- {
		inStrides[i] = k
		k *= in[i]
	}
	strides := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[p]
		strides[i] = inStrides[p]
	}
	return &transposeOp{opBase: newOpBase(fmt.Sprintf("Transpose%v", perm), dt, out, x), perm: append([]int(nil), perm...), strides: strides}
}

func (op *transposeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		transposeKernel(op.out, op.strides, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		transposeKernel(op.out, op.strides, in[0], out)
		return nil
	})
}

// transposeKernel writes out (shape dims, contiguous) from in read with the given strides.
func transposeKernel[T float](dims tensor.Shape, strides []int, in, out []T) {
	r := len(dims)
	if r == 0 {
		out[0] = in[0]
		return
	}
	n, s := dims[r-1], strides[r-1]
	idx := make([]int, r-1)
	o, j := 0, 0
	for {
		jj := j
		for i := 0; i < n; i++ {
			out[o+i] = in[jj]
			jj += s
		}
		o += n
		k := r - 2
		for ; k >= 0; k-- {
			idx[k]++
			j += strides[k]
			if idx[k] < dims[k] {
				break
			}
			j -= strides[k] * dims[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func (op *transposeOp) DiffWRT(int) []bool { return []bool{true} }

func (op *transposeOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	inv := make([]int, len(op.perm))
	for i, p := range op.perm {
		inv[p] = i
	}
	n, err := gorgonia.ApplyOp(newTransposeOp(op.dt, grad, inv), grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// ---- Concat ----

func buildConcat(b *builder, n *onnximport.Node) error {
	if len(n.Inputs) == 0 {
		return fmt.Errorf("%v: no inputs", n)
	}
	if !n.Has("axis") {
		return fmt.Errorf("%v: attribute axis is required", n)
	}
	// Shape arithmetic on constants is folded.
	consts := make([]*onnximport.Tensor, len(n.Inputs))
	allConst := true
	for i := range n.Inputs {
		t, ok := b.foldable(n, i)
		allConst = allConst && ok
		consts[i] = t
	}
	if allConst {
		t, err := concatConsts(consts, n.Int("axis", 0))
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		b.SetConst(n, 0, t)
		return nil
	}
	xs := make([]*gorgonia.Node, len(n.Inputs))
	for i := range n.Inputs {
		x, err := b.Input(n, i)
		if err != nil {
			return err
		}
		xs[i] = x
	}
	r := xs[0].Shape().Dims()
	axis, err := normAxis(n.Int("axis", 0), r, false)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	out := xs[0].Shape().Clone()
	out[axis] = 0
	for _, x := range xs {
		s := x.Shape()
		if s.Dims() != r {
			return fmt.Errorf("%v: inputs of ranks %d and %d", n, r, s.Dims())
		}
		for i := range s {
			if i != axis && s[i] != out[i] {
				return fmt.Errorf("%v: input shapes %v and %v differ off axis %d", n, xs[0].Shape(), s, axis)
			}
		}
		out[axis] += s[axis]
	}
	if len(xs) == 1 {
		b.Set(n, 0, xs[0])
		return nil
	}
	op := &concatOp{opBase: newOpBase(fmt.Sprintf("Concat{%d}", axis), b.dt, out, xs...), axis: axis}
	op.outer, op.inner = 1, 1
	for i, d := range out {
		if i < axis {
			op.outer *= d
		} else if i > axis {
			op.inner *= d
		}
	}
	for _, x := range xs {
		op.widths = append(op.widths, x.Shape()[axis]*op.inner)
	}
	v, err := gorgonia.ApplyOp(op, xs...)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, v)
	return nil
}

func concatConsts(ts []*onnximport.Tensor, axis64 int64) (*onnximport.Tensor, error) {
	r := len(ts[0].Dims)
	axis, err := normAxis(axis64, r, false)
	if err != nil {
		return nil, err
	}
	outer, inner := 1, 1
	for i, d := range ts[0].Dims {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	isFloat := ts[0].DType.IsFloat()
	out := &onnximport.Tensor{DType: ts[0].DType, Dims: append([]int(nil), ts[0].Dims...)}
	out.Dims[axis] = 0
	for _, t := range ts {
		if len(t.Dims) != r || t.DType.IsFloat() != isFloat {
			return nil, fmt.Errorf("constant inputs of different ranks or types")
		}
		out.Dims[axis] += t.Dims[axis]
	}
	for o := 0; o < outer; o++ {
		for _, t := range ts {
			w := t.Dims[axis] * inner
			if isFloat {
				out.Float = append(out.Float, t.Float[o*w:(o+1)*w]...)
			} else {
				out.Int = append(out.Int, t.Int[o*w:(o+1)*w]...)
			}
		}
	}
	return out, nil
}

type concatOp struct {
	opBase
	axis         int
	outer, inner int
	widths       []int // elements each input contributes per outer index
}

func (op *concatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		concatKernel(op.outer, op.widths, in, out)
		return nil
	}, func(in [][]float64, out []float64) error {
		concatKernel(op.outer, op.widths, in, out)
		return nil
	})
}

func concatKernel[T float](outer int, widths []int, in [][]T, out []T) {
	o := 0
	for k := 0; k < outer; k++ {
		for i, w := range widths {
			copy(out[o:o+w], in[i][k*w:(k+1)*w])
			o += w
		}
	}
}

func (op *concatOp) DiffWRT(n int) []bool { return allTrue(n) }

func (op *concatOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	total := 0
	for _, w := range op.widths {
		total += w
	}
	out := make(gorgonia.Nodes, len(inputs))
	off := 0
	for i, x := range inputs {
		g := &sliceOp{opBase: newOpBase(fmt.Sprintf("ConcatGrad{%d}", i), op.dt, x.Shape(), grad),
			outer: op.outer, stride: total, off: off, width: op.widths[i]}
		n, err := gorgonia.ApplyOp(g, grad)
		if err != nil {
			return nil, err
		}
		out[i] = n
		off += op.widths[i]
	}
	return out, nil
}

// sliceOp copies, for each of outer blocks of stride elements, the width elements at off.
type sliceOp struct {
	opBase
	outer, stride, off, width int
}

func (op *sliceOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		sliceKernel(op.outer, op.stride, op.off, op.width, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		sliceKernel(op.outer, op.stride, op.off, op.width, in[0], out)
		return nil
	})
}

func sliceKernel[T float](outer, stride, off, width int, in, out []T) {
	for k := 0; k < outer; k++ {
		copy(out[k*width:(k+1)*width], in[k*stride+off:k*stride+off+width])
	}
}
