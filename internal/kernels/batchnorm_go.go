//go:build purego || !cgo || nodnnl

package kernels

// bnSIMD is false: BatchNorm runs the Go loops in this build.
const bnSIMD = false

// bnBackend names BatchNorm's loops in this build.
const bnBackend = "Go"

func chanShiftedSums32([]float32, int, int, int, int, float64) (float64, float64) {
	panic("kernels: no SIMD BatchNorm in this build")
}

func chanCentredDot32([]float32, []float32, int, int, int, int, float32) (float64, float64) {
	panic("kernels: no SIMD BatchNorm in this build")
}

func chanAffine32([]float32, []float32, int, int, int, int, float32, float32, float32) {
	panic("kernels: no SIMD BatchNorm in this build")
}

func chanGradInput32([]float32, []float32, []float32, int, int, int, int, float32, float32, float32, float32) {
	panic("kernels: no SIMD BatchNorm in this build")
}
