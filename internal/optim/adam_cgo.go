//go:build !purego && cgo

package optim

/*
#cgo CFLAGS: -O2 -std=c11
#cgo LDFLAGS: -lm
#include <math.h>
#include <immintrin.h>

// xadam1 is adamGo's loop for one element (ISO C: no fused multiply-adds).
static inline void xadam1(float *w, const float *g, float *m, float *v, long i, float b1, float b2, float decay,
		int wd, double stepSize, double sqrtBC2, double eps) {
	float gi = g[i];
	if (wd) w[i] *= decay;
	m[i] = b1 * m[i] + (1 - b1) * gi;
	v[i] = b2 * v[i] + (1 - b2) * gi * gi;
	double denom = sqrt((double)v[i]) / sqrtBC2 + eps;
	w[i] -= (float)(stepSize * (double)m[i] / denom);
}

// xadam8 is the same arithmetic on 8 elements at a time with AVX2 (each lane rounds as the
// scalar loop does: separate multiplies and adds, IEEE square root and divisions).
__attribute__((target("avx2")))
static long xadam8(float *w, const float *g, float *m, float *v, long n, float b1, float b2, float decay,
		int wd, double stepSize, double sqrtBC2, double eps) {
	const __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(1 - b1);
	const __m256 vb2 = _mm256_set1_ps(b2), vc2 = _mm256_set1_ps(1 - b2), vdec = _mm256_set1_ps(decay);
	const __m256d vs = _mm256_set1_pd(stepSize), vq = _mm256_set1_pd(sqrtBC2), ve = _mm256_set1_pd(eps);
	long i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 gi = _mm256_loadu_ps(g + i), wi = _mm256_loadu_ps(w + i);
		if (wd) wi = _mm256_mul_ps(wi, vdec);
		__m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
		__m256d vlo = _mm256_cvtps_pd(_mm256_castps256_ps128(vi)), vhi = _mm256_cvtps_pd(_mm256_extractf128_ps(vi, 1));
		__m256d mlo = _mm256_cvtps_pd(_mm256_castps256_ps128(mi)), mhi = _mm256_cvtps_pd(_mm256_extractf128_ps(mi, 1));
		__m256d dlo = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(vlo), vq), ve);
		__m256d dhi = _mm256_add_pd(_mm256_div_pd(_mm256_sqrt_pd(vhi), vq), ve);
		__m128 ulo = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_mul_pd(vs, mlo), dlo));
		__m128 uhi = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_mul_pd(vs, mhi), dhi));
		__m256 u = _mm256_insertf128_ps(_mm256_castps128_ps256(ulo), uhi, 1);
		_mm256_storeu_ps(w + i, _mm256_sub_ps(wi, u));
	}
	return i;
}

static void xadam(float *w, const float *g, float *m, float *v, long n, float b1, float b2, float decay,
		int wd, double stepSize, double sqrtBC2, double eps, int simd) {
	long i = simd ? xadam8(w, g, m, v, n, b1, b2, decay, wd, stepSize, sqrtBC2, eps) : 0;
	for (; i < n; i++) xadam1(w, g, m, v, i, b1, b2, decay, wd, stepSize, sqrtBC2, eps);
}

static int xhasavx2(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}
*/
import "C"

import "unsafe"

// adamImpl says which Adam update this build runs: C with AVX2 where the CPU has it.
var adamImpl = func() string {
	if adamSIMD != 0 {
		return "C (AVX2)"
	}
	return "C"
}()

var adamSIMD = C.xhasavx2()

// adamUpdate runs adamGo's loop in C, 8 elements at a time with AVX2 where the CPU has it; the
// values are those of adamGo bit for bit (TestAdamCMatchesGo).
func adamUpdate(w, g, m, v []float32, k *adamConsts) {
	adamC(w, g, m, v, k, adamSIMD != 0)
}

func adamC(w, g, m, v []float32, k *adamConsts, simd bool) {
	if len(w) == 0 {
		return
	}
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	wd, s := C.int(0), C.int(0)
	if k.wd {
		wd = 1
	}
	if simd {
		s = 1
	}
	C.xadam((*C.float)(unsafe.Pointer(&w[0])), (*C.float)(unsafe.Pointer(&g[0])), (*C.float)(unsafe.Pointer(&m[0])),
		(*C.float)(unsafe.Pointer(&v[0])), C.long(len(w)), C.float(k.b1), C.float(k.b2), C.float(k.decay), wd,
		C.double(k.stepSize), C.double(k.sqrtBC2), C.double(k.eps), s)
}
