//go:build !purego && cgo && !nodnnl

package kernels

/*
#cgo CFLAGS: -O2 -std=c11 -Wno-psabi
#include <immintrin.h>

// BatchNorm's per-channel loops (batchnorm.go) on float32, 8 values at a time with AVX2: the
// plane of channel ch in each of n images starts at x + i·stride. ISO C and no FMA target: each
// lane rounds as the Go loops do (the element-wise kernels give the same values bit for bit; the
// sums add the same terms in another order).

__attribute__((target("avx2")))
static inline double xhsum(__m256d v) {
	__m128d a = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
	return _mm_cvtsd_f64(_mm_add_sd(a, _mm_unpackhi_pd(a, a)));
}

__attribute__((target("avx2")))
static void xbnsums(const float *x, long n, long stride, long sp, double k, double *s, double *q) {
	__m256d s0 = _mm256_setzero_pd(), s1 = s0, q0 = s0, q1 = s0, vk = _mm256_set1_pd(k);
	double st = 0, qt = 0;
	for (long i = 0; i < n; i++) {
		const float *p = x + i * stride;
		long j = 0;
		for (; j + 8 <= sp; j += 8) {
			__m256 v = _mm256_loadu_ps(p + j);
			__m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), vk);
			__m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), vk);
			s0 = _mm256_add_pd(s0, d0);
			s1 = _mm256_add_pd(s1, d1);
			q0 = _mm256_add_pd(q0, _mm256_mul_pd(d0, d0));
			q1 = _mm256_add_pd(q1, _mm256_mul_pd(d1, d1));
		}
		for (; j < sp; j++) {
			double d = (double)p[j] - k;
			st += d;
			qt += d * d;
		}
	}
	*s = xhsum(_mm256_add_pd(s0, s1)) + st;
	*q = xhsum(_mm256_add_pd(q0, q1)) + qt;
}

__attribute__((target("avx2")))
static void xbndot(const float *dy, const float *x, long n, long stride, long sp, float mean, double *sdy, double *sdyx) {
	__m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
	__m256 vm = _mm256_set1_ps(mean);
	double at = 0, bt = 0;
	for (long i = 0; i < n; i++) {
		const float *g = dy + i * stride, *p = x + i * stride;
		long j = 0;
		for (; j + 8 <= sp; j += 8) {
			__m256 gv = _mm256_loadu_ps(g + j);
			__m256 dv = _mm256_sub_ps(_mm256_loadu_ps(p + j), vm);
			__m256d g0 = _mm256_cvtps_pd(_mm256_castps256_ps128(gv)), g1 = _mm256_cvtps_pd(_mm256_extractf128_ps(gv, 1));
			__m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(dv)), d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(dv, 1));
			a0 = _mm256_add_pd(a0, g0);
			a1 = _mm256_add_pd(a1, g1);
			b0 = _mm256_add_pd(b0, _mm256_mul_pd(g0, d0));
			b1 = _mm256_add_pd(b1, _mm256_mul_pd(g1, d1));
		}
		for (; j < sp; j++) {
			double gj = (double)g[j];
			at += gj;
			bt += gj * (double)(p[j] - mean);
		}
	}
	*sdy = xhsum(_mm256_add_pd(a0, a1)) + at;
	*sdyx = xhsum(_mm256_add_pd(b0, b1)) + bt;
}

// y = (x − mean)·a + b
__attribute__((target("avx2")))
static void xbnaffine(const float *x, float *y, long n, long stride, long sp, float mean, float a, float b) {
	__m256 vm = _mm256_set1_ps(mean), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
	for (long i = 0; i < n; i++) {
		const float *p = x + i * stride;
		float *o = y + i * stride;
		long j = 0;
		for (; j + 8 <= sp; j += 8)
			_mm256_storeu_ps(o + j, _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + j), vm), va), vb));
		for (; j < sp; j++) o[j] = (p[j] - mean) * a + b;
	}
}

// dx = a·dy − k·(x − mean) − b
__attribute__((target("avx2")))
static void xbndx(const float *dy, const float *x, float *dx, long n, long stride, long sp, float a, float k, float mean, float b) {
	__m256 va = _mm256_set1_ps(a), vk = _mm256_set1_ps(k), vm = _mm256_set1_ps(mean), vb = _mm256_set1_ps(b);
	for (long i = 0; i < n; i++) {
		const float *g = dy + i * stride, *p = x + i * stride;
		float *o = dx + i * stride;
		long j = 0;
		for (; j + 8 <= sp; j += 8) {
			__m256 t = _mm256_mul_ps(va, _mm256_loadu_ps(g + j));
			t = _mm256_sub_ps(t, _mm256_mul_ps(vk, _mm256_sub_ps(_mm256_loadu_ps(p + j), vm)));
			_mm256_storeu_ps(o + j, _mm256_sub_ps(t, vb));
		}
		for (; j < sp; j++) o[j] = a * g[j] - k * (p[j] - mean) - b;
	}
}

static int xbnavx2(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}
*/
import "C"

import "unsafe"

// bnSIMD says whether BatchNorm's float32 loops run the AVX2 C copies (the CPU has AVX2).
var bnSIMD = C.xbnavx2() != 0

// bnBackend names BatchNorm's loops in this build on this CPU.
var bnBackend = map[bool]string{true: "C/AVX2", false: "Go (this CPU lacks AVX2)"}[bnSIMD]

func fptr(s []float32, off int) *C.float { return (*C.float)(unsafe.Pointer(&s[off])) }

// chanLen checks that channel ch's last plane lies inside s (the C loops do not bound-check).
func chanLen(s []float32, n, c, sp, ch int) {
	_ = s[((n-1)*c+ch)*sp+sp-1]
}

func chanShiftedSums32(x []float32, n, c, sp, ch int, k float64) (float64, float64) {
	if n == 0 || sp == 0 {
		return 0, 0
	}
	chanLen(x, n, c, sp, ch)
	var s, q C.double
	C.xbnsums(fptr(x, ch*sp), C.long(n), C.long(c*sp), C.long(sp), C.double(k), &s, &q)
	return float64(s), float64(q)
}

func chanCentredDot32(dy, x []float32, n, c, sp, ch int, mean float32) (float64, float64) {
	if n == 0 || sp == 0 {
		return 0, 0
	}
	chanLen(dy, n, c, sp, ch)
	chanLen(x, n, c, sp, ch)
	var a, b C.double
	C.xbndot(fptr(dy, ch*sp), fptr(x, ch*sp), C.long(n), C.long(c*sp), C.long(sp), C.float(mean), &a, &b)
	return float64(a), float64(b)
}

func chanAffine32(x, y []float32, n, c, sp, ch int, mean, a, b float32) {
	if n == 0 || sp == 0 {
		return
	}
	chanLen(x, n, c, sp, ch)
	chanLen(y, n, c, sp, ch)
	C.xbnaffine(fptr(x, ch*sp), fptr(y, ch*sp), C.long(n), C.long(c*sp), C.long(sp), C.float(mean), C.float(a), C.float(b))
}

func chanGradInput32(dy, x, dx []float32, n, c, sp, ch int, a, k, mean, b float32) {
	if n == 0 || sp == 0 {
		return
	}
	chanLen(dy, n, c, sp, ch)
	chanLen(x, n, c, sp, ch)
	chanLen(dx, n, c, sp, ch)
	C.xbndx(fptr(dy, ch*sp), fptr(x, ch*sp), fptr(dx, ch*sp), C.long(n), C.long(c*sp), C.long(sp),
		C.float(a), C.float(k), C.float(mean), C.float(b))
}
