//go:build !purego && cgo

package optim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamCMatchesGo checks the C update (AVX2 where the CPU has it, and the scalar C loop)
// against adamGo bit for bit, over several steps of random gradients with and without weight
// decay, on a length that leaves a tail after the 8-wide blocks.
func TestAdamCMatchesGo(t *testing.T) {
	const n = 1037
	r := rand.New(rand.NewPCG(3, 4))
	for _, wd := range []bool{false, true} {
		for _, simd := range []bool{false, adamSIMD != 0} {
			w0, w1 := make([]float32, n), make([]float32, n)
			m0, m1, v0, v1 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range w0 {
				w0[i] = float32(r.NormFloat64())
				w1[i] = w0[i]
			}
			g := make([]float32, n)
			for step := 1; step <= 5; step++ {
				for i := range g {
					g[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-6)))
				}
				bc1, bc2 := 1-math.Pow(0.9, float64(step)), 1-math.Pow(0.999, float64(step))
				k := adamConsts{b1: 0.9, b2: 0.999, decay: float32(1 - 1e-3*0.01), wd: wd, stepSize: 1e-3 / bc1, sqrtBC2: math.Sqrt(bc2), eps: 1e-8}
				adamGo(w0, g, m0, v0, &k)
				adamC(w1, g, m1, v1, &k, simd)
				for i := range w0 {
					if math.Float32bits(w0[i]) != math.Float32bits(w1[i]) || m0[i] != m1[i] || v0[i] != v1[i] {
						t.Fatalf("wd %v simd %v step %d element %d: C w %v m %v v %v, Go w %v m %v v %v",
							wd, simd, step, i, w1[i], m1[i], v1[i], w0[i], m0[i], v0[i])
					}
				}
			}
		}
	}
	t.Logf("Adam update: %s", adamImpl)
}
