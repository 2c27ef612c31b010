package kernels

import "github.com/xreg-onnx/xreg-onnx/internal/blas"

// Backend says which kernels this build has: the convolution path and the BLAS behind the matrix
// products (reported by `xreg-onnx version` and the benchmarks).
func Backend() string { return "conv " + convBackend + ", BLAS " + blas.Name }
