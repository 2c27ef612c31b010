package kernels

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Conv returns the ONNX Conv of x (N×C×W or N×C×H×W) with weight w (M×C/group×kW or
// M×C/group×kH×kW) and optional bias b (M elements; nil for none). group 0 means 1; group = C = M
// is a depthwise convolution. win.CeilMode must be false.
func Conv(x, w, b *gorgonia.Node, win Window, group int) (*gorgonia.Node, error) {
	if group == 0 {
		group = 1
	}
	xs, ws := x.Shape(), w.Shape()
	if len(ws) != len(xs) {
		return nil, fmt.Errorf("kernels: Conv: weight shape %v does not match input shape %v", ws, xs)
	}
	if win.CeilMode {
		return nil, fmt.Errorf("kernels: Conv: ceil mode is a pooling attribute")
	}
	g, err := win.resolve(xs, ws[2:])
	if err != nil {
		return nil, fmt.Errorf("kernels: Conv: %w", err)
	}
	if win.Kernel != nil && !tensor.Shape(win.Kernel).Eq(ws[2:]) {
		return nil, fmt.Errorf("kernels: Conv: kernel_shape %v does not match weight shape %v", win.Kernel, ws)
	}
	m := ws[0]
	if group < 1 || g.c%group != 0 || m%group != 0 || ws[1]*group != g.c {
		return nil, fmt.Errorf("kernels: Conv: group %d does not fit input channels %d and weight shape %v", group, g.c, ws)
	}
	cfg := convCfg{g: g, m: m, group: group, xs: xs.Clone(), ws: ws.Clone(), ys: g.outShape(m)}
	cfg.pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.pb == 0 && g.pr == 0
	children := []*gorgonia.Node{x, w}
	if b != nil {
		if b.Shape().TotalSize() != m {
			return nil, fmt.Errorf("kernels: Conv: bias shape %v, want %d elements", b.Shape(), m)
		}
		cfg.bs = b.Shape().Clone()
		children = append(children, b)
	}
	y, err := gorgonia.ApplyOp(&convOp{convCfg: cfg}, children...)
	if err != nil {
		return nil, fmt.Errorf("kernels: Conv: %w", err)
	}
	return y, nil
}

// convCfg is the geometry shared by a convolution and its gradients.
type convCfg struct {
	g          geom
	m, group   int
	xs, ws, ys tensor.Shape
	bs         tensor.Shape // nil without bias
	pointwise  bool         // 1×1 kernel, stride 1, no padding: the input is its own im2col
}

func (c *convCfg) String() string {
	return fmt.Sprintf("%v m%d g%d bias%v", &c.g, c.m, c.group, c.bs)
}

// sizes returns channels per group (input, output), the im2col rows per group, output pixels and
// input pixels per channel.
func (c *convCfg) sizes() (cg, mg, kg, p, hw int) {
	cg, mg = c.g.c/c.group, c.m/c.group
	return cg, mg, cg * c.g.kh * c.g.kw, c.g.oh * c.g.ow, c.g.h * c.g.w
}

// cost is the multiply-adds per image, for worker counts.
func (c *convCfg) cost() int {
	_, mg, kg, p, _ := c.sizes()
	return c.group * mg * kg * p
}

// convOp is the forward convolution.
type convOp struct {
	plain
	ob outBuf
	convCfg
	s  scratch
	dn dnnlConv
}

var _ gorgonia.SDOp = (*convOp)(nil)

func (op *convOp) Arity() int {
	if op.bs != nil {
		return 3
	}
	return 2
}

func (op *convOp) Type() hm.Type {
	r := len(op.xs)
	if op.bs != nil {
		return fnType(r, r, len(op.bs), r)
	}
	return fnType(r, r, r)
}

func (op *convOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.ys, op.xs, op.ws)
}

func (op *convOp) String() string         { return "Conv{" + op.convCfg.String() + "}" }
func (op *convOp) WriteHash(h hash.Hash)  { writeHash(h, op) }
func (op *convOp) Hashcode() uint32       { return hashOf(op) }
func (op *convOp) DiffWRT(n int) []bool   { return allTrue(n) }
func (op *convOp) shapes() []tensor.Shape { return shapesOf(op.xs, op.ws, op.bs) }

func (op *convOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.s.release()
	return do(op, vs, convForward[float32], convForward[float64], op.shapes()...)
}

func (op *convOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("kernels: %v: SymDiff got %d inputs", op, len(in))
	}
	dx, err := gorgonia.ApplyOp(&convGradOp{convCfg: op.convCfg}, in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: input gradient: %w", op, err)
	}
	dw, err := gorgonia.ApplyOp(&convGradOp{convCfg: op.convCfg, wrtWeight: true}, in[0], grad)
	if err != nil {
		return nil, fmt.Errorf("kernels: %v: weight gradient: %w", op, err)
	}
	out := gorgonia.Nodes{dx, dw}
	if op.bs != nil {
		db, err := gorgonia.ApplyOp(&channelSumOp{in: op.ys, out: op.bs}, grad)
		if err != nil {
			return nil, fmt.Errorf("kernels: %v: bias gradient: %w", op, err)
		}
		out = append(out, db)
	}
	return out, nil
}

func convForward[T Float](op *convOp, in []*tensor.Dense) *tensor.Dense {
	x, w := data[T](in[0]), data[T](in[1])
	var b []T
	if len(in) == 3 {
		b = data[T](in[2])
	}
	out, y := output[T](&op.ob, op.ys, false)
	if xf, ok := any(x).([]float32); ok {
		args, batched := [][]float32{xf, any(w).([]float32)}, []bool{true, false}
		if b != nil {
			args, batched = append(args, any(b).([]float32)), append(batched, false)
		}
		args, batched = append(args, any(y).([]float32)), append(batched, true)
		if dnnlConvRun(&op.dn, &op.convCfg, 0, args, batched, &op.s, nil) {
			return out
		}
	}
	g := &op.g
	cg, mg, kg, p, hw := op.sizes()
	nw := workers(g.n, op.cost())
	cols := make([][]T, nw)
	if !op.pointwise {
		for i := range cols {
			cols[i] = buf[T](&op.s, i, kg*p)
		}
	}
	parallel(g.n, nw, func(wk, lo, hi int) {
		for n := lo; n < hi; n++ {
			for gi := 0; gi < op.group; gi++ {
				xg := x[(n*g.c+gi*cg)*hw : (n*g.c+(gi+1)*cg)*hw]
				col := xg
				if !op.pointwise {
					col = cols[wk]
					im2col(g, xg, cg, col)
				}
				yg := y[(n*op.m+gi*mg)*p : (n*op.m+(gi+1)*mg)*p]
				var beta T
				if b != nil {
					for m := 0; m < mg; m++ {
						row, v := yg[m*p:(m+1)*p], b[gi*mg+m]
						for i := range row {
							row[i] = v
						}
					}
					beta = 1
				}
				gemm(false, false, mg, p, kg, w[gi*mg*kg:(gi+1)*mg*kg], kg, col, p, beta, yg, p)
			}
		}
	})
	return out
}

// convGradOp computes dL/dx from (w, dy) or, with wrtWeight, dL/dw from (x, dy).
type convGradOp struct {
	plain
	ob outBuf
	convCfg
	s         scratch
	dn        dnnlConv
	wrtWeight bool
}

// shapes returns the op's input shapes and its output shape.
func (op *convGradOp) shapes() ([]tensor.Shape, tensor.Shape) {
	if op.wrtWeight {
		return []tensor.Shape{op.xs, op.ys}, op.ws
	}
	return []tensor.Shape{op.ws, op.ys}, op.xs
}

func (op *convGradOp) Arity() int    { return 2 }
func (op *convGradOp) Type() hm.Type { r := len(op.xs); return fnType(r, r, r) }
func (op *convGradOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	in, out := op.shapes()
	return inferShape(op, ds, out, in...)
}
func (op *convGradOp) String() string {
	if op.wrtWeight {
		return "ConvGradWeight{" + op.convCfg.String() + "}"
	}
	return "ConvGradInput{" + op.convCfg.String() + "}"
}
func (op *convGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *convGradOp) Hashcode() uint32      { return hashOf(op) }

func (op *convGradOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	defer op.s.release()
	in, _ := op.shapes()
	if op.wrtWeight {
		return do(op, vs, convGradWeight[float32], convGradWeight[float64], in...)
	}
	return do(op, vs, convGradInput[float32], convGradInput[float64], in...)
}

func convGradInput[T Float](op *convGradOp, in []*tensor.Dense) *tensor.Dense {
	w, dy := data[T](in[0]), data[T](in[1])
	out, dx := output[T](&op.ob, op.xs, !op.pointwise)
	if dyf, ok := any(dy).([]float32); ok {
		args := [][]float32{dyf, any(w).([]float32), any(dx).([]float32)}
		if dnnlConvRun(&op.dn, &op.convCfg, 1, args, []bool{true, false, true}, &op.s, nil) {
			return out
		}
		clear(dx)
	}
	g := &op.g
	cg, mg, kg, p, hw := op.sizes()
	nw := workers(g.n, op.cost())
	// dcol = Wᵀ·dy per group, with Wᵀ stored explicitly: gonum's NoTrans·NoTrans kernel is the
	// fastest.
	wt := buf[T](&op.s, nw, len(w))
	for gi := 0; gi < op.group; gi++ {
		transpose(w[gi*mg*kg:(gi+1)*mg*kg], mg, kg, wt[gi*mg*kg:(gi+1)*mg*kg])
	}
	cols := make([][]T, nw)
	if !op.pointwise {
		for i := range cols {
			cols[i] = buf[T](&op.s, i, kg*p)
		}
	}
	parallel(g.n, nw, func(wk, lo, hi int) {
		for n := lo; n < hi; n++ {
			for gi := 0; gi < op.group; gi++ {
				dyg := dy[(n*op.m+gi*mg)*p : (n*op.m+(gi+1)*mg)*p]
				dxg := dx[(n*g.c+gi*cg)*hw : (n*g.c+(gi+1)*cg)*hw]
				wtg := wt[gi*mg*kg : (gi+1)*mg*kg]
				if op.pointwise {
					gemm(false, false, kg, p, mg, wtg, mg, dyg, p, 0, dxg, p)
					continue
				}
				dcol := cols[wk]
				gemm(false, false, kg, p, mg, wtg, mg, dyg, p, 0, dcol, p)
				col2im(g, dcol, cg, dxg)
			}
		}
	})
	return out
}

// transpose writes the r×c row-major matrix a into t as c×r.
func transpose[T Float](a []T, r, c int, t []T) {
	for i := 0; i < r; i++ {
		row := a[i*c : (i+1)*c]
		for j, v := range row {
			t[j*r+i] = v
		}
	}
}

func convGradWeight[T Float](op *convGradOp, in []*tensor.Dense) *tensor.Dense {
	x, dy := data[T](in[0]), data[T](in[1])
	out, dw := output[T](&op.ob, op.ws, true)
	if xf, ok := any(x).([]float32); ok {
		dwf := any(dw).([]float32)
		var parts [][]float32
		args := [][]float32{xf, any(dy).([]float32), dwf}
		ok := dnnlConvRun(&op.dn, &op.convCfg, 2, args, []bool{true, true, false}, &op.s, func(nw int) [][]float32 {
			parts = make([][]float32, nw)
			parts[0] = dwf
			for i := 1; i < nw; i++ {
				parts[i] = buf[float32](&op.s, i, len(dwf))
			}
			return parts
		})
		if ok {
			if parts != nil {
				addParts(dwf, parts[1:])
			}
			return out
		}
		clear(dw)
	}
	g := &op.g
	cg, mg, kg, p, hw := op.sizes()
	nw := workers(g.n, op.cost())
	cols := make([][]T, nw)
	parts := make([][]T, nw)
	parts[0] = dw
	byRows := kg >= 128
	depthwise := cg == 1 && mg == 1
	for i := range cols {
		if !depthwise && (byRows || !op.pointwise) {
			cols[i] = buf[T](&op.s, i, p*kg)
		}
		if i > 0 {
			parts[i] = buf[T](&op.s, nw+i, len(dw))
			clear(parts[i])
		}
	}
	// dW += dy·colᵀ. Gonum's kernels favour dot products (NoTrans·Trans against im2col's
	// columns) when the patch length kg is short, and axpys (NoTrans·NoTrans against the patches
	// as rows, im2row) when it is long; the crossover measured on amd64 is near 128.
	parallel(g.n, nw, func(wk, lo, hi int) {
		part, col := parts[wk], cols[wk]
		for n := lo; n < hi; n++ {
			for gi := 0; gi < op.group; gi++ {
				xg := x[(n*g.c+gi*cg)*hw : (n*g.c+(gi+1)*cg)*hw]
				dyg := dy[(n*op.m+gi*mg)*p : (n*op.m+(gi+1)*mg)*p]
				dwg := part[gi*mg*kg : (gi+1)*mg*kg]
				switch {
				case depthwise:
					depthwiseGradWeight(g, xg, dyg, dwg)
				case byRows:
					im2row(g, xg, cg, col)
					gemm(false, false, mg, kg, p, dyg, p, col, kg, 1, dwg, kg)
				case op.pointwise:
					gemm(false, true, mg, kg, p, dyg, p, xg, p, 1, dwg, kg)
				default:
					im2col(g, xg, cg, col)
					gemm(false, true, mg, kg, p, dyg, p, col, p, 1, dwg, kg)
				}
			}
		}
	})
	addParts(dw, parts[1:])
	return out
}

// addParts adds the workers' partial sums to dst, in parallel over ranges of elements: each element
// still adds parts in order (dst + parts[0] + parts[1] + …), the same value at any worker count.
func addParts[T Float](dst []T, parts [][]T) {
	if len(parts) == 0 {
		return
	}
	parallel(len(dst), workers(len(dst), len(parts)), func(_, lo, hi int) {
		d := dst[lo:hi]
		for _, part := range parts {
			for i, v := range part[lo:hi] {
				d[i] += v
			}
		}
	})
}

// im2row writes the patches of one image's group (cg channels of h×w) into row, a
// (oh·ow)×(cg·kh·kw) row-major matrix (the transpose of im2col's); taps in the padding are 0.
func im2row[T Float](g *geom, x []T, cg int, row []T) {
	hw, kg := g.h*g.w, cg*g.kh*g.kw
	for oy := 0; oy < g.oh; oy++ {
		ilo, ihi := taps(oy, g.sh, g.pt, g.dh, g.kh, g.h)
		iy0 := oy*g.sh - g.pt
		for ox := 0; ox < g.ow; ox++ {
			jlo, jhi := taps(ox, g.sw, g.pl, g.dw, g.kw, g.w)
			ix0 := ox*g.sw - g.pl
			dst := row[(oy*g.ow+ox)*kg : (oy*g.ow+ox+1)*kg]
			if ilo > 0 || ihi < g.kh || jlo > 0 || jhi < g.kw {
				clear(dst)
			}
			for c := 0; c < cg; c++ {
				xc := x[c*hw : (c+1)*hw]
				d := dst[c*g.kh*g.kw:]
				for i := ilo; i < ihi; i++ {
					base := (iy0+i*g.dh)*g.w + ix0
					di := d[i*g.kw : (i+1)*g.kw]
					for j := jlo; j < jhi; j++ {
						di[j] = xc[base+j*g.dw]
					}
				}
			}
		}
	}
}

// depthwiseGradWeight adds to dw (the kh·kw taps of one filter) the weight gradient of one
// depthwise plane: for each tap, Σ dy[oy, ox]·x[oy·sh + i·dh − pt, ox·sw + j·dw − pl] over the
// outputs whose input position lies inside the plane — im2col's columns, without writing them.
func depthwiseGradWeight[T Float](g *geom, xc, dyc, dw []T) {
	for i := 0; i < g.kh; i++ {
		yoff := i*g.dh - g.pt
		ylo, yhi := validRange(g.oh, g.sh, yoff, g.h)
		for j := 0; j < g.kw; j++ {
			xoff := j*g.dw - g.pl
			xlo, xhi := validRange(g.ow, g.sw, xoff, g.w)
			if xlo >= xhi {
				continue // this tap column lies wholly in the padding
			}
			var s0, s1 T
			for oy := ylo; oy < yhi; oy++ {
				src := xc[(oy*g.sh+yoff)*g.w : (oy*g.sh+yoff+1)*g.w]
				d := dyc[oy*g.ow : (oy+1)*g.ow]
				if g.sw == 1 {
					a, b := d[xlo:xhi], src[xlo+xoff:xhi+xoff]
					b = b[:len(a)]
					k := 0
					for ; k+2 <= len(a); k += 2 {
						s0 += a[k] * b[k]
						s1 += a[k+1] * b[k+1]
					}
					if k < len(a) {
						s0 += a[k] * b[k]
					}
					continue
				}
				for ox := xlo; ox < xhi; ox++ {
					s0 += d[ox] * src[ox*g.sw+xoff]
				}
			}
			dw[i*g.kw+j] += s0 + s1
		}
	}
}

// im2col writes the columns of one image's group (cg channels of h×w) into col, a
// (cg·kh·kw)×(oh·ow) row-major matrix; taps in the padding are 0.
func im2col[T Float](g *geom, x []T, cg int, col []T) {
	p, hw := g.oh*g.ow, g.h*g.w
	r := 0
	for c := 0; c < cg; c++ {
		xc := x[c*hw : (c+1)*hw]
		for i := 0; i < g.kh; i++ {
			yoff := i*g.dh - g.pt
			ylo, yhi := validRange(g.oh, g.sh, yoff, g.h)
			for j := 0; j < g.kw; j++ {
				xoff := j*g.dw - g.pl
				xlo, xhi := validRange(g.ow, g.sw, xoff, g.w)
				dst := col[r*p : (r+1)*p]
				r++
				clear(dst[:ylo*g.ow])
				clear(dst[yhi*g.ow:])
				for oy := ylo; oy < yhi; oy++ {
					d := dst[oy*g.ow : (oy+1)*g.ow]
					if xlo >= xhi { // this tap column lies wholly in the padding
						clear(d)
						continue
					}
					src := xc[(oy*g.sh+yoff)*g.w : (oy*g.sh+yoff+1)*g.w]
					clear(d[:xlo])
					clear(d[xhi:])
					if g.sw == 1 {
						copy(d[xlo:xhi], src[xlo+xoff:xhi+xoff])
						continue
					}
					for ox := xlo; ox < xhi; ox++ {
						d[ox] = src[ox*g.sw+xoff]
					}
				}
			}
		}
	}
}

// col2im adds the columns in col back onto the image group dx (the adjoint of im2col).
func col2im[T Float](g *geom, col []T, cg int, dx []T) {
	p, hw := g.oh*g.ow, g.h*g.w
	r := 0
	for c := 0; c < cg; c++ {
		xc := dx[c*hw : (c+1)*hw]
		for i := 0; i < g.kh; i++ {
			yoff := i*g.dh - g.pt
			ylo, yhi := validRange(g.oh, g.sh, yoff, g.h)
			for j := 0; j < g.kw; j++ {
				xoff := j*g.dw - g.pl
				xlo, xhi := validRange(g.ow, g.sw, xoff, g.w)
				src := col[r*p : (r+1)*p]
				r++
				if xlo >= xhi { // this tap column lies wholly in the padding
					continue
				}
				for oy := ylo; oy < yhi; oy++ {
					s := src[oy*g.ow : (oy+1)*g.ow]
					dst := xc[(oy*g.sh+yoff)*g.w : (oy*g.sh+yoff+1)*g.w]
					if g.sw == 1 {
						d := dst[xlo+xoff : xhi+xoff]
						s := s[xlo:xhi]
						for k := range d {
							d[k] += s[k]
						}
						continue
					}
					for ox := xlo; ox < xhi; ox++ {
						dst[ox*g.sw+xoff] += s[ox]
					}
				}
			}
		}
	}
}

// channelSumOp sums a N×C×… tensor over every axis but 1 (the bias gradient of Conv and
// BatchNormalization); the result has shape out (C elements).
type channelSumOp struct {
	plain
	ob      outBuf
	in, out tensor.Shape
}

func (op *channelSumOp) Arity() int    { return 1 }
func (op *channelSumOp) Type() hm.Type { return fnType(len(op.in), len(op.out)) }
func (op *channelSumOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	return inferShape(op, ds, op.out, op.in)
}
func (op *channelSumOp) String() string        { return fmt.Sprintf("ChannelSum{%v→%v}", op.in, op.out) }
func (op *channelSumOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *channelSumOp) Hashcode() uint32      { return hashOf(op) }

func (op *channelSumOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	in, dt, err := inputs(op, vs, op.in)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		return channelSum[float32](in[0], &op.ob, op.out), nil
	}
	return channelSum[float64](in[0], &op.ob, op.out), nil
}

func channelSum[T Float](in *tensor.Dense, ob *outBuf, shape tensor.Shape) *tensor.Dense {
	s := in.Shape()
	x := data[T](in)
	n, c := s[0], s[1]
	sp := prod(s[2:])
	out, y := output[T](ob, shape, false)
	// Channels in parallel; each channel's sum is the same at any worker count.
	parallel(c, workers(c, n*sp), func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var acc float64
			for i := 0; i < n; i++ {
				acc += sum(x[(i*c+ch)*sp : (i*c+ch+1)*sp])
			}
			y[ch] = T(acc)
		}
	})
	return out
}

// sum adds the elements in float64 with four accumulators.
func sum[T Float](x []T) float64 {
	var a0, a1, a2, a3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a0 += float64(x[i])
		a1 += float64(x[i+1])
		a2 += float64(x[i+2])
		a3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		a0 += float64(x[i])
	}
	return (a0 + a1) + (a2 + a3)
}

func allTrue(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

// shapesOf lists the non-nil shapes.
func shapesOf(s ...tensor.Shape) []tensor.Shape {
	out := make([]tensor.Shape, 0, len(s))
	for _, x := range s {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}
