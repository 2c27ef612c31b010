package executor

import (
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	register("Gemm", buildGemm)
	register("MatMul", buildMatMul)
}

// gemm computes c = alpha·op(a)·op(b) + beta·c on row-major matrices (op(a) is m×k, op(b) is
// k×n) with the BLAS Gorgonia uses (gorgonia.Use switches it, e.g. to OpenBLAS).
func gemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	impl := gorgonia.WhichBLAS()
	if _, pureGo := impl.(gonum.Implementation); pureGo && (tA || !tB) && m*n*k >= 1<<15 {
		// Gonum's dot-product kernel (op(a) plain, op(b) transposed) runs about twice as fast as
		// its axpy kernels: copy the operands into that layout, which costs far less than the
		// product.
		sa, sb := scratch[T](&gemmScratchA), scratch[T](&gemmScratchB)
		defer gemmScratchA.Put(sa)
		defer gemmScratchB.Put(sb)
		if tA { // a is stored k×m
			a = transposeInto((*sa)[:0], a, k, m, lda)
			*sa, lda = a, k
		}
		if !tB { // b is stored k×n
			b = transposeInto((*sb)[:0], b, k, n, ldb)
			*sb, ldb = b, k
		}
		tA, tB = false, true
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		impl.Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		impl.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// gemmScratchA and gemmScratchB recycle the transposed copies gemm makes (*[]float32 or *[]float64).
var gemmScratchA, gemmScratchB sync.Pool

func scratch[T float](p *sync.Pool) *[]T {
	if s, ok := p.Get().(*[]T); ok {
		return s
	}
	return new([]T)
}

// transposeInto appends to dst the transpose (cols×rows) of the rows×cols matrix src stored with
// row stride ld.
func transposeInto[T float](dst, src []T, rows, cols, ld int) []T {
	n := rows * cols
	if cap(dst) < n {
		dst = make([]T, n)
	}
	dst = dst[:n]
	for i := 0; i < rows; i++ {
		row := src[i*ld : i*ld+cols]
		for j, v := range row {
			dst[j*rows+i] = v
		}
	}
	return dst
}

// ---- Gemm ----

func buildGemm(b *builder, n *onnximport.Node) error {
	a, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	bb, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	sa, sb := a.Shape(), bb.Shape()
	if sa.Dims() != 2 || sb.Dims() != 2 {
		return fmt.Errorf("%v: Gemm needs 2-D A and B, got %v and %v", n, sa, sb)
	}
	op := &gemmOp{transA: n.Int("transA", 0) != 0, transB: n.Int("transB", 0) != 0,
		alpha: float64(n.Float("alpha", 1)), beta: float64(n.Float("beta", 1))}
	op.m, op.k = sa[0], sa[1]
	if op.transA {
		op.m, op.k = op.k, op.m
	}
	kb, nn := sb[0], sb[1]
	if op.transB {
		kb, nn = nn, kb
	}
	if kb != op.k {
		return fmt.Errorf("%v: A %v and B %v do not multiply (transA=%v, transB=%v)", n, sa, sb, op.transA, op.transB)
	}
	op.n = nn
	out := tensor.Shape{op.m, op.n}
	children := []*gorgonia.Node{a, bb}
	if n.Input(2) != "" && op.beta != 0 {
		c, err := b.Input(n, 2)
		if err != nil {
			return err
		}
		if s, err := broadcastShapes(c.Shape(), out); err != nil || !s.Eq(out) {
			return fmt.Errorf("%v: C %v does not broadcast to %v", n, c.Shape(), out)
		}
		op.hasC = true
		op.cPlan = newPlan(out, c.Shape(), out)
		children = append(children, c)
	}
	op.opBase = newOpBase(fmt.Sprintf("Gemm{%v,%v}", op.transA, op.transB), b.dt, out, children...)
	y, err := gorgonia.ApplyOp(op, children...)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

type gemmOp struct {
	opBase
	transA, transB bool
	alpha, beta    float64
	m, n, k        int
	hasC           bool
	cPlan          bplan // plan of (out, C, out)
}

// lda and ldb are the row lengths of A and B as stored.
func (op *gemmOp) lda() int {
	if op.transA {
		return op.m
	}
	return op.k
}

func (op *gemmOp) ldb() int {
	if op.transB {
		return op.k
	}
	return op.n
}

func (op *gemmOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, gemmDo[float32](op), gemmDo[float64](op))
}

func gemmDo[T float](op *gemmOp) doer[T] {
	return func(in [][]T, out []T) error {
		beta := T(0)
		if op.hasC {
			expandTo(out, in[2], &op.cPlan, T(op.beta))
			beta = 1
		}
		gemm(op.transA, op.transB, op.m, op.n, op.k, T(op.alpha), in[0], op.lda(), in[1], op.ldb(), beta, out, op.n)
		return nil
	}
}

func (op *gemmOp) DiffWRT(n int) []bool { return allTrue(n) }

func (op *gemmOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return productGrads("GemmGrad", op.dt, inputs, grad, func(base opBase, i int) gorgonia.Op {
		return &gemmGradOp{opBase: base, fwd: op, which: i}
	})
}

// productGrads builds the gradient of a matrix product with respect to each of its inputs: an op
// per input, made by grad from its opBase (named name{i}, shaped as input i) and the input's
// index, reading (A, B, dY).
func productGrads(name string, dt tensor.Dtype, inputs gorgonia.Nodes, dy *gorgonia.Node, grad func(base opBase, i int) gorgonia.Op) (gorgonia.Nodes, error) {
	out := make(gorgonia.Nodes, len(inputs))
	for i, x := range inputs {
		g := grad(newOpBase(fmt.Sprintf("%s{%d}", name, i), dt, x.Shape(), inputs[0], inputs[1], dy), i)
		var err error
		if out[i], err = gorgonia.ApplyOp(g, inputs[0], inputs[1], dy); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// gemmGradOp computes the gradient of Gemm with respect to A (0), B (1) or C (2) from A, B, dY.
type gemmGradOp struct {
	opBase
	fwd   *gemmOp
	which int
}

func (op *gemmGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, gemmGrad[float32](op), gemmGrad[float64](op))
}

func gemmGrad[T float](op *gemmGradOp) doer[T] {
	f := op.fwd
	return func(in [][]T, out []T) error {
		a, b, g := in[0], in[1], in[2]
		alpha := T(f.alpha)
		switch {
		case op.which == 0 && !f.transA: // dA = α·G·op(B)ᵀ
			gemm(false, !f.transB, f.m, f.k, f.n, alpha, g, f.n, b, f.ldb(), 0, out, f.k)
		case op.which == 0: // dA = α·op(B)·Gᵀ
			gemm(f.transB, true, f.k, f.m, f.n, alpha, b, f.ldb(), g, f.n, 0, out, f.m)
		case op.which == 1 && !f.transB: // dB = α·op(A)ᵀ·G
			gemm(!f.transA, false, f.k, f.n, f.m, alpha, a, f.lda(), g, f.n, 0, out, f.n)
		case op.which == 1: // dB = α·Gᵀ·op(A)
			gemm(true, f.transA, f.n, f.k, f.m, alpha, g, f.n, a, f.lda(), 0, out, f.k)
		default: // dC = β·G summed to C's shape
			clear(out)
			sumTo(out, g, &f.cPlan, T(f.beta))
		}
		return nil
	}
}

// ---- MatMul ----

func buildMatMul(b *builder, n *onnximport.Node) error {
	a, err := b.Input(n, 0)
	if err != nil {
		return err
	}
	bb, err := b.Input(n, 1)
	if err != nil {
		return err
	}
	op, err := newMatMulOp(b.dt, a, bb)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	y, err := gorgonia.ApplyOp(op, a, bb)
	if err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	b.Set(n, 0, y)
	return nil
}

// matMulOp is numpy's matmul: batched over the broadcast leading dimensions, with 1-D operands
// promoted to matrices and their unit dimension dropped from the result.
type matMulOp struct {
	opBase
	m, n, k int
	plan    bplan // plan of the batch shapes (a, b, out), counted in matrices
	flat    bool  // b has no batch dimensions: a's batch folds into its rows
	batch   int   // number of output matrices
}

func newMatMulOp(dt tensor.Dtype, a, b *gorgonia.Node) (*matMulOp, error) {
	sa, sb := a.Shape(), b.Shape()
	if sa.Dims() == 0 || sb.Dims() == 0 {
		return nil, fmt.Errorf("MatMul operands must have rank ≥ 1, got %v and %v", sa, sb)
	}
	ea, eb := sa.Clone(), sb.Clone()
	if len(ea) == 1 {
		ea = tensor.Shape{1, ea[0]}
	}
	if len(eb) == 1 {
		eb = tensor.Shape{eb[0], 1}
	}
	op := &matMulOp{m: ea[len(ea)-2], k: ea[len(ea)-1], n: eb[len(eb)-1]}
	if eb[len(eb)-2] != op.k {
		return nil, fmt.Errorf("shapes %v and %v do not multiply", sa, sb)
	}
	ba, bbt := ea[:len(ea)-2], eb[:len(eb)-2]
	batch, err := broadcastShapes(ba, bbt)
	if err != nil {
		return nil, fmt.Errorf("batch dimensions: %w", err)
	}
	out := batch.Clone()
	if sa.Dims() > 1 {
		out = append(out, op.m)
	}
	if sb.Dims() > 1 {
		out = append(out, op.n)
	}
	op.plan = newPlan(ba, bbt, batch)
	op.batch = size(batch)
	op.flat = len(bbt) == 0 || size(bbt) == 1
	op.opBase = newOpBase(fmt.Sprintf("MatMul%v", out), dt, out, a, b)
	return op, nil
}

// eachMatrix calls f with the indices of the a, b and output matrices of every product.
func (op *matMulOp) eachMatrix(f func(o, ia, ib int)) {
	op.plan.each(func(o, ia, ib, n, sa, sb int) {
		for i := 0; i < n; i++ {
			f(o+i, ia, ib)
			ia += sa
			ib += sb
		}
	})
}

func (op *matMulOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, matMulDo[float32](op), matMulDo[float64](op))
}

func matMulDo[T float](op *matMulOp) doer[T] {
	m, n, k := op.m, op.n, op.k
	return func(in [][]T, out []T) error {
		a, b := in[0], in[1]
		if op.flat {
			gemm(false, false, op.batch*m, n, k, 1, a, k, b, n, 0, out, n)
			return nil
		}
		op.eachMatrix(func(o, ia, ib int) {
			gemm(false, false, m, n, k, 1, a[ia*m*k:], k, b[ib*k*n:], n, 0, out[o*m*n:], n)
		})
		return nil
	}
}

func (op *matMulOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *matMulOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return productGrads("MatMulGrad", op.dt, inputs, grad, func(base opBase, i int) gorgonia.Op {
		return &matMulGradOp{opBase: base, fwd: op, which: i}
	})
}

// matMulGradOp computes the gradient of MatMul with respect to a (0) or b (1) from a, b, dY,
// summed over broadcast batch dimensions.
type matMulGradOp struct {
	opBase
	fwd   *matMulOp
	which int
}

func (op *matMulGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return run(&op.opBase, vs, matMulGrad[float32](op), matMulGrad[float64](op))
}

func matMulGrad[T float](op *matMulGradOp) doer[T] {
	f := op.fwd
	m, n, k := f.m, f.n, f.k
	return func(in [][]T, out []T) error {
		a, b, g := in[0], in[1], in[2]
		switch {
		case f.flat && op.which == 0: // dA = G·Bᵀ, all batches at once
			gemm(false, true, f.batch*m, k, n, 1, g, n, b, n, 0, out, k)
		case f.flat: // dB = Aᵀ·G summed over batches = A_flatᵀ·G_flat
			gemm(true, false, k, n, f.batch*m, 1, a, k, g, n, 0, out, n)
		case op.which == 0:
			clear(out)
			f.eachMatrix(func(o, ia, ib int) {
				gemm(false, true, m, k, n, 1, g[o*m*n:], n, b[ib*k*n:], n, 1, out[ia*m*k:], k)
			})
		default:
			clear(out)
			f.eachMatrix(func(o, ia, ib int) {
				gemm(true, false, k, n, m, 1, a[ia*m*k:], k, g[o*m*n:], n, 1, out[ib*k*n:], n)
			})
		}
		return nil
	}
}
