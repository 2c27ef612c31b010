package executor

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The data-movement ops whose index arithmetic depends only on shapes and constant inputs:
// Gather, Slice, Expand, Tile, Pad, Split, Squeeze and Unsqueeze. Each computes, at build time,
// which input element every output element reads (a selection, selectIdx); the same selection
// folds a constant input at build time or becomes an indexOp, whose gradient scatters back.
func init() {
	register("Gather", buildGather)
	register("Slice", buildSlice)
	register("Expand", buildExpand)
	register("Tile", buildTile)
	register("Pad", buildPad)
	register("Split", buildSplit)
	register("Squeeze", buildSqueeze)
	register("Unsqueeze", buildUnsqueeze)
}

// selectIdx returns, for every element of the output whose axis a reads the input coordinates
// coords[a] (−1: a padding element), the flat input index (−1 for padding).
func selectIdx(in []int, coords [][]int) []int32 {
	st := make([]int, len(in))
	k := 1
	for a := len(in) - 1; a >= 0; a-- {
		st[a] = k
		k *= in[a]
	}
	total := 1
	for _, c := range coords {
		total *= len(c)
	}
	out := make([]int32, 0, total)
	if total == 0 {
		return out
	}
	var rec func(a, base int)
	rec = func(a, base int) {
		if a == len(coords) {
			out = append(out, int32(base))
			return
		}
		for _, c := range coords[a] {
			if c < 0 || base < 0 {
				rec(a+1, -1)
				continue
			}
			rec(a+1, base+c*st[a])
		}
	}
	rec(0, 0)
	return out
}

// transposeSelection reads an input of shape in with its axes permuted (out axis i = in axis
// perm[i]).
func transposeSelection(in []int, perm []int) selection {
	st := make([]int, len(in))
	k := 1
	for a := len(in) - 1; a >= 0; a-- {
		st[a] = k
		k *= in[a]
	}
	dims := make([]int, len(perm))
	for i, p := range perm {
		dims[i] = in[p]
	}
	idx := make([]int32, 0, k)
	var rec func(i, base int)
	rec = func(i, base int) {
		if i == len(perm) {
			idx = append(idx, int32(base))
			return
		}
		for c := 0; c < dims[i]; c++ {
			rec(i+1, base+c*st[perm[i]])
		}
	}
	rec(0, 0)
	return selection{dims: dims, idx: idx}
}

// iotaInts returns 0, 1, …, n−1.
func iotaInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// selection is a build-time gather: out has dims, element i reads input element idx[i] (fill when
// −1).
type selection struct {
	dims []int
	idx  []int32
	fill float64
}

// apply publishes the selection of the node's input 0 as output i: folded when the input is a
// build-time constant, an indexOp otherwise.
func (b *builder) apply(n *onnximport.Node, i int, s selection) error {
	if t, ok := b.foldable(n, 0); ok {
		out := &onnximport.Tensor{DType: t.DType, Dims: append([]int{}, s.dims...)}
		if t.DType.IsFloat() {
			out.Float = make([]float32, len(s.idx))
			for k, j := range s.idx {
				if j < 0 {
					out.Float[k] = float32(s.fill)
				} else {
					out.Float[k] = t.Float[j]
				}
			}
		} else {
			out.Int = make([]int64, len(s.idx))
			for k, j := range s.idx {
				if j < 0 {
					out.Int[k] = int64(s.fill)
				} else {
					out.Int[k] = t.Int[j]
				}
			}
		}
		b.SetConst(n, i, out)
		return nil
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	if len(s.idx) == 0 {
		return fmt.Errorf("%v: empty output %v is not supported", n, s.dims)
	}
	y, err := b.selectNode(n.OpType, x, s)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, i, y)
	return nil
}

// selectNode returns x's selection (x itself for an identity selection of the same shape).
func (b *builder) selectNode(name string, x *gorgonia.Node, s selection) (*gorgonia.Node, error) {
	identity := len(s.idx) == size(x.Shape())
	for k, j := range s.idx {
		if int(j) != k {
			identity = false
			break
		}
	}
	if identity {
		return b.reshape(x, s.dims)
	}
	out := tensor.Shape(append([]int{}, s.dims...))
	op := &indexOp{opBase: newOpBase(fmt.Sprintf("%s%v", name, out), b.dt, out, x), idx: s.idx, fill: s.fill, in: x.Shape().Clone()}
	return gorgonia.ApplyOp(op, x)
}

// inDims returns the shape of the node's input 0, constant or not.
func (b *builder) inDims(n *onnximport.Node) ([]int, error) {
	if t, ok := b.foldable(n, 0); ok {
		return t.Dims, nil
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return nil, err
	}
	return x.Shape(), nil
}

// constInts returns the node's i-th input as build-time integers; ok is false when absent.
func (b *builder) constInts(n *onnximport.Node, i int, what string) (v []int64, ok bool, err error) {
	if n.Input(i) == "" {
		return nil, false, nil
	}
	t, isConst := b.Const(n, i)
	if !isConst {
		return nil, false, fmt.Errorf("%v: the %s input %q must be a constant (an initializer, a Constant node or shape arithmetic on them)", n, what, n.Input(i))
	}
	return t.Ints(), true, nil
}

// indexOp reads out[i] = in[idx[i]] (fill where idx[i] < 0).
type indexOp struct {
	opBase
	idx  []int32
	fill float64
	in   tensor.Shape
}

func (op *indexOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		gatherKernel(op.idx, float32(op.fill), in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		gatherKernel(op.idx, op.fill, in[0], out)
		return nil
	})
}

func gatherKernel[T float](idx []int32, fill T, in, out []T) {
	for i, j := range idx {
		if j < 0 {
			out[i] = fill
		} else {
			out[i] = in[j]
		}
	}
}

func (op *indexOp) DiffWRT(int) []bool { return []bool{true} }

func (op *indexOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &scatterOp{opBase: newOpBase(op.name+"Grad", op.dt, op.in, grad), idx: op.idx}
	g.zero = true
	n, err := gorgonia.ApplyOp(g, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// scatterOp adds dy[i] to dx[idx[i]]: the gradient of an indexOp.
type scatterOp struct {
	opBase
	idx []int32
}

func (op *scatterOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		scatterKernel(op.idx, in[0], out)
		return nil
	}, func(in [][]float64, out []float64) error {
		scatterKernel(op.idx, in[0], out)
		return nil
	})
}

func scatterKernel[T float](idx []int32, dy, dx []T) {
	for i, j := range idx {
		if j >= 0 {
			dx[j] += dy[i]
		}
	}
}

// ---- Gather ----

func buildGather(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	it, ok := b.Const(n, 1)
	if !ok {
		return fmt.Errorf("%v: the indices input %q must be a constant", n, n.Input(1))
	}
	axis, err := normAxis(n.Int("axis", 0), len(in), false)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	coords := make([][]int, len(in))
	for a, d := range in {
		coords[a] = iotaInts(d)
	}
	var sel []int
	for _, v := range it.Ints() {
		k := int(v)
		if k < 0 {
			k += in[axis]
		}
		if k < 0 || k >= in[axis] {
			return fmt.Errorf("%v: index %d is out of range for dimension %d of size %d", n, v, axis, in[axis])
		}
		sel = append(sel, k)
	}
	coords[axis] = sel
	dims := append(append(append([]int{}, in[:axis]...), it.Dims...), in[axis+1:]...)
	return b.apply(n, 0, selection{dims: dims, idx: selectIdx(in, coords)})
}

// ---- Slice ----

func buildSlice(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	starts, _, err := b.constInts(n, 1, "starts")
	if err != nil {
		return err
	}
	ends, _, err := b.constInts(n, 2, "ends")
	if err != nil {
		return err
	}
	axes, hasAxes, err := b.constInts(n, 3, "axes")
	if err != nil {
		return err
	}
	steps, hasSteps, err := b.constInts(n, 4, "steps")
	if err != nil {
		return err
	}
	if len(starts) != len(ends) || (hasAxes && len(axes) != len(starts)) || (hasSteps && len(steps) != len(starts)) {
		return fmt.Errorf("%v: starts %v, ends %v, axes %v, steps %v differ in length", n, starts, ends, axes, steps)
	}
	coords := make([][]int, len(in))
	for a, d := range in {
		coords[a] = iotaInts(d)
	}
	dims := append([]int{}, in...)
	for k := range starts {
		a := k
		if hasAxes {
			if a, err = normAxis(axes[k], len(in), false); err != nil {
				return fmt.Errorf("%v: %w", n, err)
			}
		}
		step := int64(1)
		if hasSteps {
			step = steps[k]
		}
		if step == 0 {
			return fmt.Errorf("%v: step 0", n)
		}
		c := sliceCoords(int64(in[a]), starts[k], ends[k], step)
		coords[a], dims[a] = c, len(c)
	}
	return b.apply(n, 0, selection{dims: dims, idx: selectIdx(in, coords)})
}

// sliceCoords returns the coordinates ONNX Slice selects along a dimension of size d.
func sliceCoords(d, start, end, step int64) []int {
	clamp := func(v, lo, hi int64) int64 { return min(max(v, lo), hi) }
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	var out []int
	if step > 0 {
		start, end = clamp(start, 0, d), clamp(end, 0, d)
		for i := start; i < end; i += step {
			out = append(out, int(i))
		}
	} else {
		start, end = clamp(start, 0, d-1), clamp(end, -1, d-1)
		for i := start; i > end; i += step {
			out = append(out, int(i))
		}
	}
	return out
}

// ---- Expand ----

func buildExpand(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	shape, _, err := b.constInts(n, 1, "shape")
	if err != nil {
		return err
	}
	want := make([]int, len(shape))
	for i, v := range shape {
		want[i] = int(v)
	}
	out, err := broadcastShapes(tensor.Shape(append([]int{}, in...)), tensor.Shape(want))
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	return b.apply(n, 0, broadcastSelection(in, out))
}

// broadcastSelection reads an input of shape in broadcast to shape out (numpy rules).
func broadcastSelection(in, out []int) selection {
	pad := len(out) - len(in)
	full := make([]int, len(out))
	coords := make([][]int, len(out))
	for a := range out {
		d := 1
		if a >= pad {
			d = in[a-pad]
		}
		full[a] = d
		c := make([]int, out[a])
		if d != 1 {
			c = iotaInts(out[a])
		}
		coords[a] = c
	}
	return selection{dims: append([]int{}, out...), idx: selectIdx(full, coords)}
}

// ---- Tile ----

func buildTile(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	reps, _, err := b.constInts(n, 1, "repeats")
	if err != nil {
		return err
	}
	if len(reps) != len(in) {
		return fmt.Errorf("%v: %d repeats for a rank-%d input", n, len(reps), len(in))
	}
	coords := make([][]int, len(in))
	dims := make([]int, len(in))
	for a, d := range in {
		if reps[a] < 1 {
			return fmt.Errorf("%v: repeats %v must be ≥ 1", n, reps)
		}
		for r := 0; r < int(reps[a]); r++ {
			coords[a] = append(coords[a], iotaInts(d)...)
		}
		dims[a] = len(coords[a])
	}
	return b.apply(n, 0, selection{dims: dims, idx: selectIdx(in, coords)})
}

// ---- Pad ----

func buildPad(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	pads, _, err := b.constInts(n, 1, "pads")
	if err != nil {
		return err
	}
	axes, hasAxes, err := b.constInts(n, 3, "axes")
	if err != nil {
		return err
	}
	r := len(in)
	if !hasAxes {
		axes = make([]int64, r)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(pads) != 2*len(axes) {
		return fmt.Errorf("%v: %d pads for %d axes", n, len(pads), len(axes))
	}
	var fill float64
	if n.Input(2) != "" {
		t, ok := b.Const(n, 2)
		if !ok || t.Size() != 1 {
			return fmt.Errorf("%v: the constant_value input %q must be a constant scalar", n, n.Input(2))
		}
		fill = float64(t.Floats()[0])
	}
	mode := n.Str("mode", "constant")
	coords := make([][]int, r)
	dims := make([]int, r)
	for a, d := range in {
		coords[a] = iotaInts(d)
		dims[a] = d
	}
	for k, ax := range axes {
		a, err := normAxis(ax, r, false)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		lo, hi := int(pads[k]), int(pads[k+len(axes)])
		d := in[a]
		var c []int
		for i := -lo; i < d+hi; i++ {
			switch {
			case i >= 0 && i < d:
				c = append(c, i)
			case mode == "constant":
				c = append(c, -1)
			case mode == "edge":
				c = append(c, min(max(i, 0), d-1))
			case mode == "reflect":
				if d == 1 {
					c = append(c, 0)
					continue
				}
				j := i
				for j < 0 || j >= d {
					if j < 0 {
						j = -j
					}
					if j >= d {
						j = 2*(d-1) - j
					}
				}
				c = append(c, j)
			default:
				return fmt.Errorf("%v: mode %q is not supported (constant, reflect and edge are)", n, mode)
			}
		}
		coords[a], dims[a] = c, len(c)
	}
	return b.apply(n, 0, selection{dims: dims, idx: selectIdx(in, coords), fill: fill})
}

// ---- Split ----

func buildSplit(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	axis, err := normAxis(n.Int("axis", 0), len(in), false)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	parts, has, err := b.constInts(n, 1, "split")
	if err != nil {
		return err
	}
	k := len(n.Outputs)
	if !has {
		d := in[axis]
		parts = make([]int64, k)
		each := (d + k - 1) / k // opset 18's num_outputs rule; equal parts before
		for i := range parts {
			parts[i] = int64(min(each, d-i*each))
		}
	}
	if len(parts) != k {
		return fmt.Errorf("%v: %d split sizes for %d outputs", n, len(parts), k)
	}
	off := 0
	for i, p := range parts {
		coords := make([][]int, len(in))
		for a, d := range in {
			coords[a] = iotaInts(d)
		}
		coords[axis] = iotaInts(int(p))
		for j := range coords[axis] {
			coords[axis][j] += off
		}
		if off+int(p) > in[axis] || p < 0 {
			return fmt.Errorf("%v: split %v exceeds dimension %d of size %d", n, parts, axis, in[axis])
		}
		dims := append([]int{}, in...)
		dims[axis] = int(p)
		if n.Outputs[i] != "" {
			if err := b.apply(n, i, selection{dims: dims, idx: selectIdx(in, coords)}); err != nil {
				return err
			}
		}
		off += int(p)
	}
	return nil
}

// ---- Squeeze, Unsqueeze ----

func buildSqueeze(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	axes, has, err := b.constInts(n, 1, "axes")
	if err != nil {
		return err
	}
	drop := make([]bool, len(in))
	for i, d := range in {
		drop[i] = !has && d == 1
	}
	for _, a := range axes {
		i, err := normAxis(a, len(in), false)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		if in[i] != 1 {
			return fmt.Errorf("%v: cannot squeeze dimension %d of size %d", n, i, in[i])
		}
		drop[i] = true
	}
	var dims []int
	for i, d := range in {
		if !drop[i] {
			dims = append(dims, d)
		}
	}
	return b.reshapeTo(n, dims)
}

func buildUnsqueeze(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	axes, _, err := b.constInts(n, 1, "axes")
	if err != nil {
		return err
	}
	r := len(in) + len(axes)
	add := make([]bool, r)
	for _, a := range axes {
		i, err := normAxis(a, r, false)
		if err != nil || add[i] {
			return fmt.Errorf("%v: axes %v are not distinct axes of the rank-%d output", n, axes, r)
		}
		add[i] = true
	}
	dims := make([]int, 0, r)
	k := 0
	for i := 0; i < r; i++ {
		if add[i] {
			dims = append(dims, 1)
		} else {
			dims = append(dims, in[k])
			k++
		}
	}
	return b.reshapeTo(n, dims)
}

// reshapeTo publishes the node's input 0 with other dims (same elements).
func (b *builder) reshapeTo(n *onnximport.Node, dims []int) error {
	if dims == nil {
		dims = []int{}
	}
	if t, ok := b.foldable(n, 0); ok {
		b.SetConst(n, 0, withDims(t, dims))
		return nil
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	y, err := b.reshape(x, dims)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// ---- ReduceMax, ReduceMin ----

func init() {
	register("ReduceMax", buildReduceExtreme)
	register("ReduceMin", buildReduceExtreme)
}

// buildReduceExtreme reduces over the axes (input 1, or every axis) keeping the largest
// (ReduceMax) or smallest (ReduceMin) element; the gradient goes to the first such element.
func buildReduceExtreme(b *builder, n *onnximport.Node) error {
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	in := []int(x.Shape())
	axes, has, err := b.constInts(n, 1, "axes")
	if err != nil {
		return err
	}
	if !has && n.Int("noop_with_empty_axes", 0) != 0 {
		b.Set(n, 0, x)
		return nil
	}
	reduce := make([]bool, len(in))
	for i := range reduce {
		reduce[i] = !has || len(axes) == 0
	}
	for _, a := range axes {
		i, err := normAxis(a, len(in), false)
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
		reduce[i] = true
	}
	keep := n.Int("keepdims", 1) != 0
	var dims []int
	ost := make([]int, len(in)) // output stride of each input axis (0 when reduced)
	k := 1
	for a := len(in) - 1; a >= 0; a-- {
		if !reduce[a] {
			ost[a] = k
			k *= in[a]
		}
	}
	for a, d := range in {
		switch {
		case !reduce[a]:
			dims = append(dims, d)
		case keep:
			dims = append(dims, 1)
		}
	}
	if dims == nil {
		dims = []int{}
	}
	// group[i] lists the input elements of output i, in row-major order.
	groups := make([][]int32, k)
	idx := make([]int, len(in))
	for flat := 0; flat < size(x.Shape()); flat++ {
		o := 0
		for a := range in {
			o += idx[a] * ost[a]
		}
		groups[o] = append(groups[o], int32(flat))
		for a := len(in) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < in[a] {
				break
			}
			idx[a] = 0
		}
	}
	out := tensor.Shape(append([]int{}, dims...))
	op := &extremeOp{opBase: newOpBase(fmt.Sprintf("%s%v", n.OpType, out), b.dt, out, x), groups: groups, min: n.OpType == "ReduceMin", in: x.Shape().Clone()}
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// extremeOp is ReduceMax/ReduceMin over precomputed groups of input elements.
type extremeOp struct {
	opBase
	groups [][]int32
	min    bool
	in     tensor.Shape
}

// argExtreme returns the position (in x) of the first largest (smallest) element of g.
func argExtreme[T float](x []T, g []int32, min bool) int32 {
	at := g[0]
	for _, j := range g[1:] {
		if (!min && x[j] > x[at]) || (min && x[j] < x[at]) {
			at = j
		}
	}
	return at
}

func (op *extremeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		for i, g := range op.groups {
			out[i] = in[0][argExtreme(in[0], g, op.min)]
		}
		return nil
	}, func(in [][]float64, out []float64) error {
		for i, g := range op.groups {
			out[i] = in[0][argExtreme(in[0], g, op.min)]
		}
		return nil
	})
}

func (op *extremeOp) DiffWRT(int) []bool { return []bool{true} }

func (op *extremeOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	g := &extremeGradOp{opBase: newOpBase(op.name+"Grad", op.dt, op.in, inputs[0], grad), fwd: op}
	g.zero = true
	n, err := gorgonia.ApplyOp(g, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{n}, nil
}

// extremeGradOp adds dy of each group to its first extreme element. Inputs: x, dy.
type extremeGradOp struct {
	opBase
	fwd *extremeOp
}

func (op *extremeGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, func(in [][]float32, out []float32) error {
		for i, g := range op.fwd.groups {
			out[argExtreme(in[0], g, op.fwd.min)] += in[1][i]
		}
		return nil
	}, func(in [][]float64, out []float64) error {
		for i, g := range op.fwd.groups {
			out[argExtreme(in[0], g, op.fwd.min)] += in[1][i]
		}
		return nil
	})
}
