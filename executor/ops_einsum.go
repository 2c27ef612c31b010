package executor

import (
	"fmt"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Einsum in its common forms: one operand permuted ("ij->ji"), or two operands whose letters are
// batch (in both and the output), free (in one and the output) or contracted (in both, not the
// output), as attention and bilinear layers write them ("bhid,bhjd->bhij", "bij,bjk->bik"). It
// is built from Transpose, Reshape and a batched MatMul, whose gradients it inherits. Ellipses,
// repeated letters in an operand (diagonals) and letters summed out of a single operand are refused.
func init() { register("Einsum", buildEinsum) }

func buildEinsum(b *builder, n *onnximport.Node) error {
	eq := strings.ReplaceAll(n.Str("equation", ""), " ", "")
	lhs, out, ok := strings.Cut(eq, "->")
	if !ok || strings.Contains(eq, ".") {
		return fmt.Errorf("%v: equation %q: only explicit equations (with ->) without ellipsis are supported", n, eq)
	}
	ins := strings.Split(lhs, ",")
	if len(ins) != len(n.Inputs) || len(ins) > 2 {
		return fmt.Errorf("%v: equation %q: one or two operands are supported, matching the inputs", n, eq)
	}
	for _, s := range append(ins, out) {
		for i := range s {
			if strings.Count(s, s[i:i+1]) > 1 {
				return fmt.Errorf("%v: equation %q: a letter repeated in one term (a diagonal) is not supported", n, eq)
			}
		}
	}
	xs := make([]*gorgonia.Node, len(ins))
	dim := map[byte]int{}
	for i := range ins {
		x, err := b.Input(n, i)
		if err != nil {
			return err
		}
		if x.Shape().Dims() != len(ins[i]) {
			return fmt.Errorf("%v: term %q for an input of shape %v", n, ins[i], x.Shape())
		}
		for k := range ins[i] {
			c := ins[i][k]
			if d, seen := dim[c]; seen && d != x.Shape()[k] {
				return fmt.Errorf("%v: letter %c has sizes %d and %d", n, c, d, x.Shape()[k])
			}
			dim[c] = x.Shape()[k]
		}
		xs[i] = x
	}
	perm := func(from, to string) []int {
		p := make([]int, len(to))
		for i := range to {
			p[i] = strings.IndexByte(from, to[i])
		}
		return p
	}
	dims := func(s string) []int {
		d := make([]int, len(s))
		for i := range s {
			d[i] = dim[s[i]]
		}
		return d
	}
	for i := range out {
		if _, ok := dim[out[i]]; !ok {
			return fmt.Errorf("%v: equation %q: output letter %c is in no operand", n, eq, out[i])
		}
	}
	var y *gorgonia.Node
	var err error
	if len(ins) == 1 {
		if len(out) != len(ins[0]) {
			return fmt.Errorf("%v: equation %q: summing letters out of one operand is not supported", n, eq)
		}
		y, err = b.transpose(xs[0], perm(ins[0], out))
	} else {
		a, c := ins[0], ins[1]
		var batch, freeA, freeB, contr string
		for i := range a {
			l := a[i : i+1]
			inB, inO := strings.Contains(c, l), strings.Contains(out, l)
			switch {
			case inB && inO:
				batch += l
			case inB:
				contr += l
			case inO:
				freeA += l
			default:
				return fmt.Errorf("%v: equation %q: letter %s summed out of one operand is not supported", n, eq, l)
			}
		}
		for i := range c {
			l := c[i : i+1]
			if !strings.Contains(a, l) {
				if !strings.Contains(out, l) {
					return fmt.Errorf("%v: equation %q: letter %s summed out of one operand is not supported", n, eq, l)
				}
				freeB += l
			}
		}
		nb, nfa, nfb, nc := size(dims(batch)), size(dims(freeA)), size(dims(freeB)), size(dims(contr))
		ta, err := b.transpose(xs[0], perm(a, batch+freeA+contr))
		if err == nil {
			ta, err = b.reshape(ta, []int{nb, nfa, nc})
		}
		var tb *gorgonia.Node
		if err == nil {
			if tb, err = b.transpose(xs[1], perm(c, batch+contr+freeB)); err == nil {
				tb, err = b.reshape(tb, []int{nb, nc, nfb})
			}
		}
		if err == nil {
			var op *matMulOp
			if op, err = newMatMulOp(b.dt, ta, tb); err == nil {
				y, err = gorgonia.ApplyOp(op, ta, tb)
			}
		}
		mid := batch + freeA + freeB
		if err == nil {
			y, err = b.reshape(y, dims(mid))
		}
		if err == nil {
			y, err = b.transpose(y, perm(mid, out))
		}
	}
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}
