//go:build !purego && cgo && !nodnnl

package kernels

/*
#cgo LDFLAGS: -ldnnl -lgomp
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

void omp_set_num_threads(int);

static dnnl_engine_t xeng;

static int xinit(void) {
	omp_set_num_threads(1);
	return dnnl_engine_create(&xeng, dnnl_cpu, 0) != dnnl_success;
}

#define XMAX 4
#define XWORKERS 256

// One primitive with its arguments: each argument has a memory in the caller's plain layout
// (user, its data handle set on every call) and, where the primitive prefers another layout, a
// memory in that layout (mem) with a reorder between them. The reordered copies live in a scratch
// arena per worker slot, shared by every primitive (ops run one at a time on a slot). So does the
// primitive's scratchpad (pad, of pads bytes): the primitives are created with a user scratchpad,
// since this oneDNN build (DNNL_ENABLE_CONCURRENT_EXEC) would otherwise allocate one per primitive
// when it is created and keep it for the primitive's life.
typedef struct {
	dnnl_primitive_t prim;
	dnnl_stream_t stream;
	int n, slot;
	int arg[XMAX], out[XMAX];
	dnnl_memory_t user[XMAX], mem[XMAX];
	dnnl_primitive_t reorder[XMAX];
	size_t size[XMAX];
	dnnl_memory_t pad;
	size_t pads;
} xprim;

static void *xarena[XWORKERS][XMAX + 1];
static size_t xcap[XWORKERS][XMAX + 1];

// xslot returns the scratch buffer j of worker slot s, grown to at least size bytes; NULL when
// it cannot be allocated.
static void *xslot(int s, int j, size_t size) {
	if (xcap[s][j] < size) {
		free(xarena[s][j]);
		xarena[s][j] = aligned_alloc(64, (size + 63) / 64 * 64);
		xcap[s][j] = xarena[s][j] ? size : 0;
	}
	return xarena[s][j];
}

static int xarg(xprim *p, int arg, const dnnl_memory_desc_t *umd, const dnnl_memory_desc_t *pmd, int out) {
	int i = p->n++;
	p->arg[i] = arg;
	p->out[i] = out;
	if (dnnl_memory_create(&p->user[i], umd, xeng, DNNL_MEMORY_NONE)) return 1;
	if (dnnl_memory_desc_equal(umd, pmd)) {
		p->mem[i] = p->user[i];
		return 0;
	}
	p->size[i] = dnnl_memory_desc_get_size(pmd);
	if (dnnl_memory_create(&p->mem[i], pmd, xeng, DNNL_MEMORY_NONE)) return 1;
	dnnl_primitive_desc_t rpd;
	if (dnnl_reorder_primitive_desc_create(&rpd, out ? pmd : umd, xeng, out ? umd : pmd, xeng, NULL)) return 1;
	int rc = dnnl_primitive_create(&p->reorder[i], rpd);
	dnnl_primitive_desc_destroy(rpd);
	return rc != dnnl_success;
}

static void xfree(xprim *p) {
	if (!p) return;
	for (int i = 0; i < p->n; i++) {
		if (p->reorder[i]) dnnl_primitive_destroy(p->reorder[i]);
		if (p->mem[i] && p->mem[i] != p->user[i]) dnnl_memory_destroy(p->mem[i]);
		if (p->user[i]) dnnl_memory_destroy(p->user[i]);
	}
	if (p->pad) dnnl_memory_destroy(p->pad);
	if (p->prim) dnnl_primitive_destroy(p->prim);
	if (p->stream) dnnl_stream_destroy(p->stream);
	free(p);
}

// xmd describes a plain tensor: dense in the given layout, or, with strides, a view of channels
// of a larger dense tensor.
static int xmd(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t d, dnnl_format_tag_t tag, const dnnl_dim_t *st) {
	if (st) return dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, st);
	return dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag);
}

// xconv creates a 2-D convolution primitive on plain NCHW tensors: kind 0 forward (args x, w,
// [b], y), 1 backward data (dy, w, dx), 2 backward weights (x, dy, dw). With split (groups of 1
// only), the primitive covers c of cf input channels and m of mf output channels: x, y and w are
// views of channels of the dense NCHW / OIHW tensors of cf and mf channels. NULL on failure.
static xprim *xconv(int kind, int slot, int n, int c, int h, int w, int m, int g, int kh, int kw,
		int oh, int ow, int sh, int sw, int dh, int dw, int pt, int pl, int pb, int pr, int bias,
		int split, int cf, int mf) {
	omp_set_num_threads(1);
	xprim *p = calloc(1, sizeof(xprim));
	if (!p) return NULL;
	p->slot = slot;
	dnnl_dims_t xd = {n, c, h, w}, yd = {n, m, oh, ow}, bd = {m}, wd;
	int wnd = 4;
	dnnl_format_tag_t wtag = dnnl_oihw;
	if (g == 1) {
		wd[0] = m; wd[1] = c; wd[2] = kh; wd[3] = kw;
	} else {
		wnd = 5; wtag = dnnl_goihw;
		wd[0] = g; wd[1] = m / g; wd[2] = c / g; wd[3] = kh; wd[4] = kw;
	}
	dnnl_dims_t st = {sh, sw}, dl = {dh - 1, dw - 1}, pa = {pt, pl}, pz = {pb, pr};
	dnnl_memory_desc_t xu, yu, wu, bu, xa, ya, wa;
	dnnl_dims_t xs = {(dnnl_dim_t)cf * h * w, h * w, w, 1}, ys = {(dnnl_dim_t)mf * oh * ow, oh * ow, ow, 1},
		ws = {(dnnl_dim_t)cf * kh * kw, kh * kw, kw, 1};
	if (split && g != 1) return xfree(p), NULL;
	if (xmd(&xu, 4, xd, dnnl_nchw, split ? xs : NULL) ||
		xmd(&yu, 4, yd, dnnl_nchw, split ? ys : NULL) ||
		xmd(&wu, wnd, wd, wtag, split ? ws : NULL) ||
		dnnl_memory_desc_init_by_tag(&bu, 1, bd, dnnl_f32, dnnl_a) ||
		dnnl_memory_desc_init_by_tag(&xa, 4, xd, dnnl_f32, dnnl_format_tag_any) ||
		dnnl_memory_desc_init_by_tag(&ya, 4, yd, dnnl_f32, dnnl_format_tag_any) ||
		dnnl_memory_desc_init_by_tag(&wa, wnd, wd, dnnl_f32, dnnl_format_tag_any)) goto fail;
	dnnl_convolution_desc_t fd, od;
	if (dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
			&xa, &wa, (kind == 0 && bias) ? &bu : NULL, &ya, st, dl, pa, pz)) goto fail;
	dnnl_primitive_attr_t attr;
	if (dnnl_primitive_attr_create(&attr)) goto fail;
	if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) {
		dnnl_primitive_attr_destroy(attr);
		goto fail;
	}
	dnnl_primitive_desc_t fpd = NULL, pd = NULL;
	if (dnnl_primitive_desc_create(&fpd, &fd, attr, xeng, NULL)) {
		dnnl_primitive_attr_destroy(attr);
		goto fail;
	}
	if (kind == 0) {
		pd = fpd;
		fpd = NULL;
	} else {
		int rc = kind == 1
			? dnnl_dilated_convolution_backward_data_desc_init(&od, dnnl_convolution_direct, &xa, &wa, &ya, st, dl, pa, pz)
			: dnnl_dilated_convolution_backward_weights_desc_init(&od, dnnl_convolution_direct, &xa, &wa, NULL, &ya, st, dl, pa, pz);
		if (rc || dnnl_primitive_desc_create(&pd, &od, attr, xeng, fpd)) {
			dnnl_primitive_desc_destroy(fpd);
			dnnl_primitive_attr_destroy(attr);
			goto fail;
		}
		dnnl_primitive_desc_destroy(fpd);
	}
	dnnl_primitive_attr_destroy(attr);
	// Only oneDNN's direct JIT kernels (jit:, jit_1x1:, jit_dw:, brgconv…): its im2col + gemm
	// ("gemm:jit") and reference fallbacks are no faster than the Go kernels (which then run).
	const char *impl = NULL;
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl ||
			!(strncmp(impl, "jit", 3) == 0 || strncmp(impl, "brg", 3) == 0) || strstr(impl, "gemm:") || strstr(impl, "ref")) {
		dnnl_primitive_desc_destroy(pd);
		goto fail;
	}
	int bad = dnnl_primitive_create(&p->prim, pd) != dnnl_success;
	const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	p->pads = smd ? dnnl_memory_desc_get_size(smd) : 0;
	if (p->pads > 0) bad = bad || dnnl_memory_create(&p->pad, smd, xeng, DNNL_MEMORY_NONE);
#define MD(q) dnnl_primitive_desc_query_md(pd, q, 0)
	switch (kind) {
	case 0:
		bad = bad || xarg(p, DNNL_ARG_SRC, &xu, MD(dnnl_query_src_md), 0) ||
			xarg(p, DNNL_ARG_WEIGHTS, &wu, MD(dnnl_query_weights_md), 0) ||
			(bias && xarg(p, DNNL_ARG_BIAS, &bu, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), 0)) ||
			xarg(p, DNNL_ARG_DST, &yu, MD(dnnl_query_dst_md), 1);
		break;
	case 1:
		bad = bad || xarg(p, DNNL_ARG_DIFF_DST, &yu, MD(dnnl_query_diff_dst_md), 0) ||
			xarg(p, DNNL_ARG_WEIGHTS, &wu, MD(dnnl_query_weights_md), 0) ||
			xarg(p, DNNL_ARG_DIFF_SRC, &xu, MD(dnnl_query_diff_src_md), 1);
		break;
	default:
		bad = bad || xarg(p, DNNL_ARG_SRC, &xu, MD(dnnl_query_src_md), 0) ||
			xarg(p, DNNL_ARG_DIFF_DST, &yu, MD(dnnl_query_diff_dst_md), 0) ||
			xarg(p, DNNL_ARG_DIFF_WEIGHTS, &wu, MD(dnnl_query_diff_weights_md), 1);
	}
#undef MD
	dnnl_primitive_desc_destroy(pd);
	if (bad || dnnl_stream_create(&p->stream, xeng, dnnl_stream_default_flags)) goto fail;
	return p;
fail:
	xfree(p);
	return NULL;
}

#define XALIGN(n) (((n) + 63) / 64 * 64)

// xscratch returns the bytes of scratch one execution of p needs: its reordered copies and its
// scratchpad, each starting on 64 bytes.
static size_t xscratch(xprim *p) {
	size_t n = XALIGN(p->pads);
	for (int i = 0; i < p->n; i++) {
		if (p->mem[i] != p->user[i]) n += XALIGN(p->size[i]);
	}
	return n;
}

// xexec runs p on the given data pointers (in argument order) in the calling thread. scr, when
// not NULL, is the scratch of this execution (xscratch bytes from a 64-byte boundary); else the
// scratch comes from the worker slot's buffers.
static int xexec(xprim *p, void *h0, void *h1, void *h2, void *h3, void *scr) {
	omp_set_num_threads(1);
	void *h[XMAX] = {h0, h1, h2, h3};
	dnnl_exec_arg_t args[XMAX + 1];
	int s = p->slot;
	char *next = scr;
	for (int i = 0; i < p->n; i++) {
		if (dnnl_memory_set_data_handle(p->user[i], h[i])) return 1;
		if (p->mem[i] != p->user[i]) {
			void *b = next;
			if (next) next += XALIGN(p->size[i]);
			else b = xslot(s, i, p->size[i]);
			if (!b) return 2;
			if (dnnl_memory_set_data_handle(p->mem[i], b)) return 1;
			if (!p->out[i]) {
				dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, p->user[i]}, {DNNL_ARG_TO, p->mem[i]}};
				if (dnnl_primitive_execute(p->reorder[i], p->stream, 2, ra)) return 3;
			}
		}
		args[i].arg = p->arg[i];
		args[i].memory = p->mem[i];
	}
	int na = p->n;
	if (p->pad) {
		void *b = next ? next : xslot(s, XMAX, p->pads);
		if (!b) return 2;
		if (dnnl_memory_set_data_handle(p->pad, b)) return 1;
		args[na].arg = DNNL_ARG_SCRATCHPAD;
		args[na].memory = p->pad;
		na++;
	}
	int st = dnnl_primitive_execute(p->prim, p->stream, na, args);
	if (st) return 100 + st;
	for (int i = 0; i < p->n; i++) {
		if (p->out[i] && p->mem[i] != p->user[i]) {
			dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, p->mem[i]}, {DNNL_ARG_TO, p->user[i]}};
			if (dnnl_primitive_execute(p->reorder[i], p->stream, 2, ra)) return 5;
		}
	}
	return dnnl_stream_wait(p->stream) != dnnl_success;
}

static int xversion(int *maj, int *min, int *patch) {
	const dnnl_version_t *v = dnnl_version();
	*maj = v->major; *min = v->minor; *patch = v->patch;
	return 0;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

var (
	dnnlOnce sync.Once
	dnnlOK   bool
	// dnnlMu serialises executions: the reordered copies live in one arena per worker slot.
	dnnlMu sync.Mutex
)

// dnnlReady initialises the oneDNN CPU engine once; false when it cannot be created.
func dnnlReady() bool {
	dnnlOnce.Do(func() { dnnlOK = C.xinit() == 0 })
	return dnnlOK
}

var convBackend = func() string {
	var a, b, c C.int
	C.xversion(&a, &b, &c)
	return fmt.Sprintf("oneDNN %d.%d.%d (forward, backward data and weights)", a, b, c)
}()

// dnnlConv holds the oneDNN primitives of one convolution direction, one per worker: the batch
// is split into equal parts, each run single-threaded by oneDNN in its own goroutine (no OpenMP
// team, so a loaded machine does not stall on spinning threads), in chunks of images whose data
// fit in dnnlChunkBytes (all of a worker's images where they fit); or, for late layers (dnnlSplit),
// the channels are split and each worker runs the whole batch.
type dnnlConv struct {
	p      *dnnlPrims
	sub    int // images per execution (dnnlChunk)
	split  int // workers splitting channels (dnnlSplit), 0 for a split by images
	failed bool
}

// dnnlPrims owns the C primitives; a finalizer frees them with the op.
type dnnlPrims struct{ prims []*C.xprim }

func (d *dnnlPrims) free() {
	for _, p := range d.prims {
		C.xfree(p)
	}
	d.prims = nil
}

// convWorkers returns the largest divisor of n that is at most the worker count workers gives.
func convWorkers(n, cost int) int {
	w := workers(n, cost)
	for n%w != 0 {
		w--
	}
	return w
}

// dnnlConvRun runs direction kind (0 forward, 1 backward data, 2 backward weights) of the
// convolution c on float32 data through oneDNN. ptrs are the data of the arguments in the order
// of xconv; outIdx is the argument that is written; parts receives per-worker partial sums when
// the output is summed over the batch (backward weights). It returns false when oneDNN cannot
// run this convolution (the caller then uses the Go kernels, on an output it must reset).
func dnnlConvRun(d *dnnlConv, c *convCfg, kind int, args [][]float32, batched []bool, s *scratch, sum func(w int) [][]float32) bool {
	if d.failed || c.g.rank != 4 || !dnnlReady() {
		return false
	}
	dnnlMu.Lock()
	defer dnnlMu.Unlock()
	g := &c.g
	nw := convWorkers(g.n, c.cost())
	sub := dnnlChunk(g.n/nw, args, batched, g.n)
	split := dnnlSplit(c, kind, args, batched)
	if split > 0 {
		nw, sub = split, g.n
	}
	if d.p == nil || len(d.p.prims) != nw || d.sub != sub || d.split != split {
		if d.p != nil {
			d.p.free()
		}
		d.p, d.sub, d.split = &dnnlPrims{}, sub, split
		runtime.SetFinalizer(d.p, (*dnnlPrims).free)
		for i := 0; i < nw; i++ {
			bias := 0
			if kind == 0 && len(args) == 4 {
				bias = 1
			}
			ci, mi := g.c, c.m
			if split > 0 && kind == 1 {
				ci = g.c / split
			} else if split > 0 {
				mi = c.m / split
			}
			p := C.xconv(C.int(kind), C.int(i), C.int(sub), C.int(ci), C.int(g.h), C.int(g.w), C.int(mi), C.int(c.group),
				C.int(g.kh), C.int(g.kw), C.int(g.oh), C.int(g.ow), C.int(g.sh), C.int(g.sw), C.int(g.dh), C.int(g.dw),
				C.int(g.pt), C.int(g.pl), C.int(g.pb), C.int(g.pr), C.int(bias), C.int(min(split, 1)), C.int(g.c), C.int(c.m))
			if p == nil {
				d.p.free()
				d.failed = true
				return false
			}
			d.p.prims = append(d.p.prims, p)
		}
	}
	var parts [][]float32
	if sum != nil && split == 0 {
		parts = sum(nw)
	}
	// With a lender, each worker's reordered copies and scratchpad are lent for this run; without,
	// they live in the worker slot's buffers, shared by all primitives.
	scr := make([]unsafe.Pointer, nw)
	for wk, p := range d.p.prims {
		if n := int(C.xscratch(p)); n > 0 {
			if b, ok := lend[float32](s, (n+63)/4+1); ok {
				scr[wk] = align64(b)
			}
		}
	}
	// A worker runs its images in chunks of sub; the weight gradient of each chunk after the
	// first goes to a buffer of the worker (more), added to its partial sum.
	var more [][]float32
	if parts != nil && sub < g.n/nw {
		more = make([][]float32, nw)
		for wk := range more {
			more[wk] = buf[float32](s, nw+wk, len(parts[0]))
		}
	}
	errs := make([]C.int, nw)
	if split > 0 {
		// Worker wk runs channels [wk·per, (wk+1)·per) of the split dimension over the whole batch,
		// writing its own part of the output: no partial sums.
		unit := splitUnits(c, kind, len(args))
		per := c.m / split
		if kind == 1 {
			per = g.c / split
		}
		parallel(nw, nw, func(wk, _, _ int) {
			var h [4]unsafe.Pointer
			for i, a := range args {
				h[i] = unsafe.Pointer(&a[wk*per*unit[i]])
			}
			errs[wk] = C.xexec(d.p.prims[wk], h[0], h[1], h[2], h[3], scr[wk])
		})
	} else {
		dnnlBatchRun(d, g, args, batched, parts, more, scr, errs, sub, nw)
	}
	for _, e := range errs {
		if e != 0 {
			// Not expected after a successful creation; the Go kernels take over for good.
			d.p.free()
			d.failed = true
			return false
		}
	}
	return true
}

// dnnlSplit returns how many workers split a convolution direction by channels instead of by
// images (output channels for forward and backward weights, input channels for backward data), 0
// for a split by images. Channels are split where the weights outweigh the batched data (small
// images, many channels: late layers), so that each worker reorders and reads only its share of
// the weights (split by images, every worker reorders all of them, and the weight gradient needs
// partial sums), in parts of whole 16-channel blocks; groups of 1, data in one execution.
func dnnlSplit(c *convCfg, kind int, args [][]float32, batched []bool) int {
	g := &c.g
	if c.group != 1 || !dnnlSplitOn {
		return 0
	}
	act, wts := 0, 0
	for i, a := range args {
		if batched[i] {
			act += len(a)
		} else {
			wts += len(a)
		}
	}
	if wts < act || 4*act > dnnlChunkBytes {
		return 0
	}
	ch := c.m
	if kind == 1 {
		ch = g.c
	}
	for w := workers(g.n, c.cost()); w >= 2; w-- {
		if ch%(16*w) == 0 {
			return w
		}
	}
	return 0
}

// dnnlSplitOn enables dnnlSplit (a variable for tests).
var dnnlSplitOn = true

// splitUnits returns, per argument of a direction (in xconv's order; nargs of them), how many
// elements one channel of the split dimension advances its data.
func splitUnits(c *convCfg, kind, nargs int) []int {
	g := &c.g
	kk := g.kh * g.kw
	switch kind {
	case 0: // x, w, [b], y: split output channels
		if nargs == 4 {
			return []int{0, g.c * kk, 1, g.oh * g.ow}
		}
		return []int{0, g.c * kk, g.oh * g.ow}
	case 1: // dy, w, dx: split input channels
		return []int{0, kk, g.h * g.w}
	}
	return []int{0, g.oh * g.ow, g.c * kk} // x, dy, dw: split output channels
}

// dnnlBatchRun runs the workers' primitives, each on its images (in chunks of sub).
func dnnlBatchRun(d *dnnlConv, g *geom, args [][]float32, batched []bool, parts, more [][]float32, scr []unsafe.Pointer, errs []C.int, sub, nw int) {
	parallel(g.n, nw, func(wk, lo, hi int) {
		for n0 := lo; n0 < hi && errs[wk] == 0; n0 += sub {
			var h [4]unsafe.Pointer
			for i, a := range args {
				switch {
				case batched[i]:
					per := len(a) / g.n
					h[i] = unsafe.Pointer(&a[n0*per])
				case parts != nil && i == len(args)-1 && n0 > lo:
					h[i] = unsafe.Pointer(&more[wk][0])
				case parts != nil && i == len(args)-1:
					h[i] = unsafe.Pointer(&parts[wk][0])
				default:
					h[i] = unsafe.Pointer(&a[0])
				}
			}
			errs[wk] = C.xexec(d.p.prims[wk], h[0], h[1], h[2], h[3], scr[wk])
			if parts != nil && n0 > lo {
				part := parts[wk]
				for i, v := range more[wk] {
					part[i] += v
				}
			}
		}
	})
}

// dnnlChunkBytes bounds the batched data (inputs and outputs) of one oneDNN execution where a
// worker has several images: its reordered copies (blocked layouts) are about that large, and
// they are lent (or kept per worker slot) for the execution. 8 MB rather than 32: at two workers
// both chunks' copies then stay in the shared 32 MB L3 cache between the reorders and the
// convolution (xreg-bench -speed at 2 threads, 2026-12-01: wrn-16-4, vgg11-bn and resnet18 steps
// 2–4 % faster in most alternating rounds, none slower at 1 thread beyond the noise). A variable
// for tests.
var dnnlChunkBytes = 8 << 20

// dnnlChunk returns how many of a worker's per images one execution takes: the largest divisor of
// per whose batched arguments (args with batched set; n images in each) fit in dnnlChunkBytes,
// at least 1.
func dnnlChunk(per int, args [][]float32, batched []bool, n int) int {
	img := 0
	for i, a := range args {
		if batched[i] {
			img += 4 * len(a) / n
		}
	}
	for sub := per; sub > 1; sub-- {
		if per%sub == 0 && sub*img <= dnnlChunkBytes {
			return sub
		}
	}
	return 1
}

// align64 returns the first address in b on a 64-byte boundary (b holds at least 64 bytes more than
// what is stored from there).
func align64(b []float32) unsafe.Pointer {
	p := unsafe.Pointer(unsafe.SliceData(b))
	return unsafe.Add(p, (64-uintptr(p)%64)%64)
}

// active reports whether the last run went through oneDNN (for tests).
func (d *dnnlConv) active() bool { return !d.failed && d.p != nil && len(d.p.prims) > 0 }

// splitRan reports whether the last run split channels over workers (for tests).
func (d *dnnlConv) splitRan() bool { return d.active() && d.split > 0 }
