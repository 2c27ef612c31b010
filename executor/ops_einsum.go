package executor

import (
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Einsum in the forms classifiers and attention layers write: one operand permuted and/or summed
// over letters ("ij->ji", "ij->i"), or two operands whose letters are batch (in both and the
// output), free (in one and the output), contracted (in both, not the output) or summed out of one
// operand ("bhid,bhjd->bhij", "bij,bjk->bik", "bij,bjk->bi"); ellipses ("...ij,...jk->...ik",
// right-aligned, equal sizes: no broadcasting of 1s) and implicit outputs ("ij,jk": the letters
// that appear once, alphabetically, after the ellipsis dimensions). It is built from ReduceSum,
// Transpose, Reshape and a batched MatMul, whose gradients it inherits. Repeated letters in an
// operand (diagonals) and more than two operands are refused.
func init() { register("Einsum", buildEinsum) }

// einsumTerms expands an equation's ellipses into letters the equation does not use (the
// rightmost dimensions of each "..." get the same letters) and makes an implicit output explicit.
// ranks are the operands' ranks.
func einsumTerms(eq string, ranks []int) (ins []string, out string, err error) {
	lhs, out, explicit := strings.Cut(eq, "->")
	ins = strings.Split(lhs, ",")
	if len(ins) != len(ranks) || len(ins) > 2 {
		return nil, "", fmt.Errorf("one or two operands are supported, matching the inputs")
	}
	var free []byte
	for c := byte('A'); c <= 'z'; c++ {
		if (c <= 'Z' || c >= 'a') && !strings.ContainsRune(eq, rune(c)) {
			free = append(free, c)
		}
	}
	ell := 0
	extra := make([]int, len(ins))
	for i, t := range ins {
		if strings.Count(t, ".") != 3*strings.Count(t, "...") || strings.Count(t, "...") > 1 {
			return nil, "", fmt.Errorf("term %q: one ellipsis (...) at most, and no other dots", t)
		}
		if strings.Contains(t, "...") {
			extra[i] = ranks[i] - (len(t) - 3)
			if extra[i] < 0 {
				return nil, "", fmt.Errorf("term %q for an input of rank %d", t, ranks[i])
			}
			ell = max(ell, extra[i])
		}
	}
	if ell > len(free) {
		return nil, "", fmt.Errorf("an ellipsis of %d dimensions: too few unused letters", ell)
	}
	letters := string(free[:ell])
	implicit := map[byte]int{}
	for i, t := range ins {
		for k := range t {
			if t[k] != '.' {
				implicit[t[k]]++
			}
		}
		ins[i] = strings.Replace(t, "...", letters[ell-extra[i]:], 1)
	}
	if !explicit {
		var once []byte
		for c, k := range implicit {
			if k == 1 {
				once = append(once, c)
			}
		}
		slices.Sort(once)
		return ins, letters + string(once), nil
	}
	if strings.Count(out, ".") != 3*strings.Count(out, "...") || strings.Count(out, "...") > 1 {
		return nil, "", fmt.Errorf("output %q: one ellipsis (...) at most, and no other dots", out)
	}
	return ins, strings.Replace(out, "...", letters, 1), nil
}

func buildEinsum(b *builder, n *onnximport.Node) error {
	eq := strings.ReplaceAll(n.Str("equation", ""), " ", "")
	xs := make([]*gorgonia.Node, len(n.Inputs))
	ranks := make([]int, len(n.Inputs))
	for i := range n.Inputs {
		x, err := b.Input(n, i)
		if err != nil {
			return err
		}
		xs[i], ranks[i] = x, x.Shape().Dims()
	}
	ins, out, err := einsumTerms(eq, ranks)
	if err != nil {
		return fmt.Errorf("%v: equation %q: %w", n, eq, err)
	}
	for _, s := range append(slices.Clone(ins), out) {
		for i := range s {
			if strings.Count(s, s[i:i+1]) > 1 {
				return fmt.Errorf("%v: equation %q: a letter repeated in one term (a diagonal) is not supported", n, eq)
			}
		}
	}
	dim := map[byte]int{}
	for i := range ins {
		x := xs[i]
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
	}
	// Letters in one operand alone and not in the output are summed out of it first.
	for i := range ins {
		reduce := make([]bool, len(ins[i]))
		kept, any := "", false
		for k := range ins[i] {
			l := ins[i][k : k+1]
			other := len(ins) == 2 && strings.Contains(ins[1-i], l)
			if !other && !strings.Contains(out, l) {
				reduce[k], any = true, true
				continue
			}
			kept += l
		}
		if any {
			if xs[i], err = b.sumAxes(xs[i], reduce); err != nil {
				return fmt.Errorf("%v: %w", n, err)
			}
			ins[i] = kept
		}
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
	if len(ins) == 1 {
		y = xs[0]
		if ins[0] != out {
			y, err = b.transpose(xs[0], perm(ins[0], out))
		}
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
			}
		}
		for i := range c {
			l := c[i : i+1]
			if !strings.Contains(a, l) {
				freeB += l
			}
		}
		nb, nfa, nfb, nc := size(dims(batch)), size(dims(freeA)), size(dims(freeB)), size(dims(contr))
		var ta *gorgonia.Node
		ta, err = b.transpose(xs[0], perm(a, batch+freeA+contr))
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

// sumAxes sums x over the axes reduce marks, dropping them (ReduceSum with keepdims 0).
func (b *builder) sumAxes(x *gorgonia.Node, reduce []bool) (*gorgonia.Node, error) {
	s := x.Shape()
	kept := make(tensor.Shape, s.Dims())
	out := tensor.Shape{}
	for i, d := range s {
		kept[i] = d
		if reduce[i] {
			kept[i] = 1
			continue
		}
		out = append(out, d)
	}
	op := &reduceMeanOp{opBase: newOpBase(fmt.Sprintf("ReduceSum%v", sortedAxes(reduce)), b.dt, out, x), count: 1, plan: newPlan(s, kept, s)}
	op.zero = true
	return gorgonia.ApplyOp(op, x)
}
