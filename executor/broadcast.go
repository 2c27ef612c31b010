package executor

import (
	"fmt"
	"runtime"

	"gorgonia.org/tensor"
)

// broadcastShapes returns the numpy (ONNX multidirectional) broadcast of shapes.
func broadcastShapes(shapes ...tensor.Shape) (tensor.Shape, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make(tensor.Shape, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast (dimension %d: %d vs %d)", shapes, off+i-rank, o, d)
			}
		}
	}
	return out, nil
}

// bplan walks the elements of an output shape together with the matching elements of two
// operands broadcast to it. Dimensions where both operands behave alike are merged, so that the
// innermost run is as long as possible.
type bplan struct {
	dims   []int // merged output dimensions, outermost first
	sa, sb []int // element strides of a and b along dims (0 where the operand is broadcast)
}

// newPlan makes the plan of a and b broadcast to out (which must be their broadcast, or a
// shape they both broadcast to).
func newPlan(a, b, out tensor.Shape) bplan {
	r := len(out)
	pad := func(s tensor.Shape) []int {
		p := make([]int, r)
		for i := range p {
			p[i] = 1
		}
		copy(p[r-len(s):], s)
		return p
	}
	pa, pb := pad(a), pad(b)
	var dims []int
	var fa, fb []bool
	for i := 0; i < r; i++ {
		if out[i] == 1 {
			continue
		}
		va, vb := pa[i] != 1, pb[i] != 1
		if k := len(dims) - 1; k >= 0 && fa[k] == va && fb[k] == vb {
			dims[k] *= out[i]
			continue
		}
		dims = append(dims, out[i])
		fa = append(fa, va)
		fb = append(fb, vb)
	}
	if len(dims) == 0 {
		dims, fa, fb = []int{1}, []bool{false}, []bool{false}
	}
	p := bplan{dims: dims, sa: make([]int, len(dims)), sb: make([]int, len(dims))}
	ka, kb := 1, 1
	for i := len(dims) - 1; i >= 0; i-- {
		if fa[i] {
			p.sa[i] = ka
			ka *= dims[i]
		}
		if fb[i] {
			p.sb[i] = kb
			kb *= dims[i]
		}
	}
	return p
}

// each calls f for every innermost run: the run starts at output offset o and operand offsets
// ia, ib, has n elements, and the operands advance by sa, sb per element.
func (p *bplan) each(f func(o, ia, ib, n, sa, sb int)) {
	last := len(p.dims) - 1
	n, sa, sb := p.dims[last], p.sa[last], p.sb[last]
	if last == 0 {
		f(0, 0, 0, n, sa, sb)
		return
	}
	idx := make([]int, last)
	o, ia, ib := 0, 0, 0
	for {
		f(o, ia, ib, n, sa, sb)
		o += n
		// advance the odometer over the outer dimensions
		k := last - 1
		for ; k >= 0; k-- {
			idx[k]++
			ia += p.sa[k]
			ib += p.sb[k]
			if idx[k] < p.dims[k] {
				break
			}
			ia -= p.sa[k] * p.dims[k]
			ib -= p.sb[k] * p.dims[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// eachParallel is each with the runs spread over goroutines (parallelChunks) when the output is
// large; f must write only output elements [o, o+n) of its run. A single merged dimension is split
// into chunks, more dimensions along the outermost one.
func (p *bplan) eachParallel(f func(o, ia, ib, n, sa, sb int)) {
	last := len(p.dims) - 1
	if last == 0 {
		n, sa, sb := p.dims[0], p.sa[0], p.sb[0]
		parallelChunks(n, func(lo, hi int) { f(lo, lo*sa, lo*sb, hi-lo, sa, sb) })
		return
	}
	outer := p.dims[0]
	inner := 1
	for _, d := range p.dims[1:] {
		inner *= d
	}
	if outer*inner < 2*minChunk {
		p.each(f)
		return
	}
	sub := bplan{dims: p.dims[1:], sa: p.sa[1:], sb: p.sb[1:]}
	parallelN(outer, min(runtime.GOMAXPROCS(0), outer*inner/minChunk), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o0, a0, b0 := i*inner, i*p.sa[0], i*p.sb[0]
			sub.each(func(o, ia, ib, n, sa, sb int) { f(o0+o, a0+ia, b0+ib, n, sa, sb) })
		}
	})
}

// sumTo adds the elements of src (shape from) into dst (shape to, which broadcasts to from),
// scaled by scale. dst is not cleared first.
func sumTo[T float](dst, src []T, p *bplan, scale T) {
	// p is the plan of (from, to, from): a is src, b is dst.
	p.each(func(o, ia, ib, n, sa, sb int) {
		if sb == 0 {
			var s T
			for i := 0; i < n; i++ {
				s += src[ia]
				ia += sa
			}
			dst[ib] += scale * s
			return
		}
		for i := 0; i < n; i++ {
			dst[ib] += scale * src[ia]
			ia += sa
			ib += sb
		}
	})
}

// expandTo writes src (shape from, broadcastable to to) broadcast to dst (shape to), scaled.
func expandTo[T float](dst, src []T, p *bplan, scale T) {
	// p is the plan of (to, from, to): a is dst, b is src.
	p.each(func(o, ia, ib, n, sa, sb int) {
		for i := 0; i < n; i++ {
			dst[ia] = scale * src[ib]
			ia += sa
			ib += sb
		}
	})
}
