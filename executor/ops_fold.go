package executor

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Shape arithmetic: shapes are static per batch, so Shape is a build-time constant, and every
// elementwise op whose inputs are all build-time constants (Shape→Gather→Unsqueeze→Concat→Reshape,
// ConstantOfShape→Equal→Where→Expand as torch writes them) is folded by foldConst before its
// builder would run. Cast, ConstantOfShape and Where also have runtime forms.
func init() {
	register("Shape", buildShape)
	register("Size", buildSize)
	register("Cast", buildCast)
	register("ConstantOfShape", buildConstantOfShape)
	register("Where", buildWhere)
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Mod", "Floor", "Ceil", "Range", "ScatterND"} {
		op := op
		register(op, func(b *builder, n *onnximport.Node) error {
			return fmt.Errorf("%v: %s is supported on build-time constants only (shape arithmetic); input %q is computed from the data", n, op, firstVarying(b, n))
		})
	}
}

// firstVarying names the first input that is not a build-time constant.
func firstVarying(b *builder, n *onnximport.Node) string {
	for i, in := range n.Inputs {
		if _, ok := b.foldable(n, i); in != "" && !ok {
			return in
		}
	}
	return ""
}

// foldConst evaluates n at build time when it is an elementwise op whose inputs are all
// build-time constants; it reports whether it did.
func (b *builder) foldConst(n *onnximport.Node) (bool, error) {
	f, ok := constFolds[n.OpType]
	if !ok || len(n.Inputs) == 0 {
		return false, nil
	}
	ins := make([]*onnximport.Tensor, len(n.Inputs))
	for i, name := range n.Inputs {
		if name == "" {
			continue
		}
		t, ok := b.foldable(n, i)
		if !ok {
			return false, nil
		}
		ins[i] = t
	}
	out, err := f(n, ins)
	if err != nil {
		return false, fmt.Errorf("%v: %w", n, err)
	}
	b.SetConst(n, 0, out)
	return true, nil
}

type constFold func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error)

// constFolds are the build-time evaluators of elementwise ops on constants.
var constFolds = map[string]constFold{
	"Add":            binFold(func(a, b float64) float64 { return a + b }),
	"Sub":            binFold(func(a, b float64) float64 { return a - b }),
	"Mul":            binFold(func(a, b float64) float64 { return a * b }),
	"Div":            binFold(nil), // integer or float division, by type
	"Mod":            binFold(nil),
	"Pow":            binFold(math.Pow),
	"Max":            binFold(math.Max),
	"Min":            binFold(math.Min),
	"Equal":          cmpFold(func(a, b float64) bool { return a == b }),
	"Less":           cmpFold(func(a, b float64) bool { return a < b }),
	"Greater":        cmpFold(func(a, b float64) bool { return a > b }),
	"LessOrEqual":    cmpFold(func(a, b float64) bool { return a <= b }),
	"GreaterOrEqual": cmpFold(func(a, b float64) bool { return a >= b }),
	"And":            cmpFold(func(a, b float64) bool { return a != 0 && b != 0 }),
	"Or":             cmpFold(func(a, b float64) bool { return a != 0 || b != 0 }),
	"Neg":            unFold(func(a float64) float64 { return -a }),
	"Abs":            unFold(math.Abs),
	"Floor":          unFold(math.Floor),
	"Ceil":           unFold(math.Ceil),
	"Sqrt":           unFold(math.Sqrt),
	"Sin":            unFold(math.Sin),
	"Cos":            unFold(math.Cos),
	"Exp":            unFold(math.Exp),
	"Log":            unFold(math.Log),
	"Tanh":           unFold(math.Tanh),
	"Erf":            unFold(math.Erf),
	"Reciprocal":     unFold(func(a float64) float64 { return 1 / a }),
	"Relu":           unFold(func(a float64) float64 { return max(a, 0) }),
	"Sigmoid":        unFold(func(a float64) float64 { return 1 / (1 + math.Exp(-a)) }),
	"Not": func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		return mapTensor(in[:1], onnximport.Bool, func(v []float64) float64 { return b2f(v[0] == 0) })
	},
	"Where": func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
			return nil, fmt.Errorf("want 3 inputs")
		}
		return mapTensor(in, in[1].DType, func(v []float64) float64 {
			if v[0] != 0 {
				return v[1]
			}
			return v[2]
		})
	},
	"ScatterND": scatterNDFold,
	"Range": func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
			return nil, fmt.Errorf("want 3 inputs")
		}
		s, l, d := float64(in[0].Floats()[0]), float64(in[1].Floats()[0]), float64(in[2].Floats()[0])
		if d == 0 {
			return nil, fmt.Errorf("delta 0")
		}
		cnt := max(0, int(math.Ceil((l-s)/d)))
		v := make([]float64, cnt)
		for i := range v {
			v[i] = s + float64(i)*d
		}
		return fromFloat64(in[0].DType, []int{cnt}, v), nil
	},
}

// scatterNDFold is ScatterND (reduction none) on build-time constants, as torch writes a slice
// assignment to a tensor made from shapes (swin's shifted-window attention mask): a copy of data
// where each index tuple (the last axis of indices, k long) receives its updates slice (data's
// shape past axis k).
func scatterNDFold(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
	if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("want 3 inputs")
	}
	if r := n.Str("reduction", "none"); r != "none" {
		return nil, fmt.Errorf("reduction %q is not supported (none is)", r)
	}
	data, idx, upd := in[0], in[1], in[2]
	if len(idx.Dims) == 0 {
		return nil, fmt.Errorf("indices are a scalar")
	}
	k := idx.Dims[len(idx.Dims)-1]
	if k > len(data.Dims) {
		return nil, fmt.Errorf("index tuples of %d for data of rank %d", k, len(data.Dims))
	}
	slice := numel(data.Dims[k:])
	tuples := numel(idx.Dims[:len(idx.Dims)-1])
	if upd.Size() != tuples*slice {
		return nil, fmt.Errorf("updates of %d elements for %d index tuples of %d", upd.Size(), tuples, slice)
	}
	out, ix, up := toF64(data), idx.Ints(), toF64(upd)
	for t := range tuples {
		off := 0
		for a := range k {
			i := ix[t*k+a]
			if i < 0 {
				i += int64(data.Dims[a])
			}
			if i < 0 || i >= int64(data.Dims[a]) {
				return nil, fmt.Errorf("index %d out of range for axis %d of size %d", ix[t*k+a], a, data.Dims[a])
			}
			off = off*data.Dims[a] + int(i)
		}
		copy(out[off*slice:(off+1)*slice], up[t*slice:(t+1)*slice])
	}
	return fromFloat64(data.DType, data.Dims, out), nil
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func binFold(f func(a, b float64) float64) constFold {
	return func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		if len(in) < 2 || in[0] == nil || in[1] == nil {
			return nil, fmt.Errorf("want 2 inputs")
		}
		dt := in[0].DType
		isInt := !dt.IsFloat()
		g := f
		switch n.OpType {
		case "Div":
			g = func(a, b float64) float64 {
				if isInt {
					if b == 0 {
						return 0
					}
					return math.Trunc(a / b)
				}
				return a / b
			}
		case "Mod":
			fmod := n.Int("fmod", 0) != 0
			g = func(a, b float64) float64 {
				if b == 0 {
					return 0
				}
				r := math.Mod(a, b)
				if !fmod && r != 0 && (r < 0) != (b < 0) {
					r += b // the sign of the divisor, as Python's %
				}
				return r
			}
		}
		vals := in
		if n.OpType == "Max" || n.OpType == "Min" { // variadic
			return mapTensor(vals, dt, func(v []float64) float64 {
				r := v[0]
				for _, x := range v[1:] {
					r = g(r, x)
				}
				return r
			})
		}
		return mapTensor(vals[:2], dt, func(v []float64) float64 { return g(v[0], v[1]) })
	}
}

func cmpFold(f func(a, b float64) bool) constFold {
	return func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		if len(in) != 2 || in[0] == nil || in[1] == nil {
			return nil, fmt.Errorf("want 2 inputs")
		}
		return mapTensor(in, onnximport.Bool, func(v []float64) float64 { return b2f(f(v[0], v[1])) })
	}
}

func unFold(f func(a float64) float64) constFold {
	return func(n *onnximport.Node, in []*onnximport.Tensor) (*onnximport.Tensor, error) {
		return mapTensor(in[:1], in[0].DType, func(v []float64) float64 { return f(v[0]) })
	}
}

// mapTensor broadcasts the inputs (numpy rules) and applies f to each tuple of elements; the
// result has type dt (integers are truncated).
func mapTensor(in []*onnximport.Tensor, dt onnximport.DType, f func(v []float64) float64) (*onnximport.Tensor, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, t := range in {
		shapes[i] = tensor.Shape(append([]int{}, t.Dims...))
	}
	out, err := broadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	dims := []int(out)
	sels := make([][]int32, len(in))
	data := make([][]float64, len(in))
	for i, t := range in {
		sels[i] = broadcastSelection(t.Dims, dims).idx
		data[i] = toF64(t)
	}
	cnt := size(out)
	res := make([]float64, cnt)
	args := make([]float64, len(in))
	for k := 0; k < cnt; k++ {
		for i := range in {
			args[i] = data[i][sels[i][k]]
		}
		res[k] = f(args)
	}
	return fromFloat64(dt, dims, res), nil
}

func toF64(t *onnximport.Tensor) []float64 {
	out := make([]float64, t.Size())
	if t.DType.IsFloat() {
		for i, v := range t.Float {
			out[i] = float64(v)
		}
		return out
	}
	for i, v := range t.Int {
		out[i] = float64(v)
	}
	return out
}

func fromFloat64(dt onnximport.DType, dims []int, v []float64) *onnximport.Tensor {
	t := &onnximport.Tensor{DType: dt, Dims: append([]int{}, dims...)}
	if dt.IsFloat() {
		t.Float = make([]float32, len(v))
		for i, x := range v {
			t.Float[i] = float32(x)
		}
		return t
	}
	t.Int = make([]int64, len(v))
	for i, x := range v {
		t.Int[i] = int64(x)
	}
	return t
}

// ---- Shape ----

func buildShape(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	r := int64(len(in))
	start, end := n.Int("start", 0), n.Int("end", r)
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = min(max(start, 0), r), min(max(end, 0), r)
	var v []int64
	for i := start; i < end; i++ {
		v = append(v, int64(in[i]))
	}
	b.SetConst(n, 0, onnximport.NewIntTensor("", []int{len(v)}, v))
	return nil
}

func buildSize(b *builder, n *onnximport.Node) error {
	in, err := b.inDims(n)
	if err != nil {
		return err
	}
	b.SetConst(n, 0, onnximport.NewIntTensor("", []int{}, []int64{int64(numel(in))}))
	return nil
}

// ---- Cast ----

// buildCast folds a constant (to the target type) and forwards a float value to a float type; a
// float value cast to an integer type is refused (it would cut the gradient).
func buildCast(b *builder, n *onnximport.Node) error {
	to := onnximport.DType(n.Int("to", 0))
	if t, ok := b.foldable(n, 0); ok {
		v := toF64(t)
		if !to.IsFloat() {
			for i, x := range v {
				if to == onnximport.Bool {
					v[i] = b2f(x != 0)
				} else {
					v[i] = math.Trunc(x)
				}
			}
		}
		b.SetConst(n, 0, fromFloat64(to, t.Dims, v))
		return nil
	}
	if !to.IsFloat() {
		return fmt.Errorf("%v: casting a computed float value to %v is not supported", n, to)
	}
	x, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	b.Set(n, 0, x)
	return nil
}

// ---- ConstantOfShape ----

func buildConstantOfShape(b *builder, n *onnximport.Node) error {
	shape, _, err := b.constInts(n, 0, "shape")
	if err != nil {
		return err
	}
	dims := make([]int, len(shape))
	for i, v := range shape {
		dims[i] = int(v)
	}
	val := &onnximport.Tensor{DType: onnximport.Float32, Dims: []int{1}, Float: []float32{0}}
	if a, ok := n.Attrs["value"]; ok && a.T != nil {
		val = a.T
	}
	v := toF64(val)
	out := make([]float64, numel(dims))
	for i := range out {
		out[i] = v[0]
	}
	b.SetConst(n, 0, fromFloat64(val.DType, dims, out))
	return nil
}

func numel(dims []int) int {
	k := 1
	for _, d := range dims {
		k *= d
	}
	return k
}

// ---- Where ----

// buildWhere with a constant condition selects between computed values: x⊙m + y⊙(1−m).
func buildWhere(b *builder, n *onnximport.Node) error {
	c, ok := b.foldable(n, 0)
	if !ok {
		return fmt.Errorf("%v: the condition %q must be a build-time constant", n, n.Input(0))
	}
	x, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	y, err := b.Input(n, 2)
	if err != nil {
		return err
	}
	m := make([]float32, c.Size())
	inv := make([]float32, c.Size())
	for i, v := range c.Ints() {
		if v != 0 {
			m[i] = 1
		} else {
			inv[i] = 1
		}
	}
	mn, err := b.constNode(onnximport.NewFloatTensor(n.Name+"::mask", c.Dims, m))
	if err != nil {
		return err
	}
	in, err := b.constNode(onnximport.NewFloatTensor(n.Name+"::notmask", c.Dims, inv))
	if err != nil {
		return err
	}
	var out *gorgonia.Node
	xs, err := b.binary(binMul, x, mn)
	if err == nil {
		var ys *gorgonia.Node
		if ys, err = b.binary(binMul, y, in); err == nil {
			out, err = b.binary(binAdd, xs, ys)
		}
	}
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, out)
	return nil
}
