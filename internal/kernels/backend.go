package kernels

import "github.com/xreg-onnx/xreg-onnx/internal/blas"

// Backend says which kernels this build has: the convolution path, BatchNorm's loops and the BLAS
// behind the matrix products (reported by `xreg-onnx version` and the benchmarks).
func Backend() string {
	return "conv " + convBackend + ", BatchNorm " + bnBackend + ", BLAS " + blas.Name
}
