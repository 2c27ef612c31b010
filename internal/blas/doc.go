// Package blas selects the BLAS that Gorgonia and the project's kernels use.
//
// Import it for its side effect from a main package:
//
//	import _ "github.com/xreg-onnx/xreg-onnx/internal/blas"
//
// A default build keeps Gorgonia's pure-Go BLAS (gonum) and needs no C toolchain. Built with the
// tag cblas (and cgo), the package links OpenBLAS (Debian libopenblas-dev) and switches
// gorgonia.WhichBLAS to it with gorgonia.Use, which both the Gorgonia ops and the kernels of
// internal/kernels and xreg call for every matrix product:
//
//	go build -tags cblas ./cmd/xreg-onnx
//
// The kernels already spread images over GOMAXPROCS goroutines, so unless OPENBLAS_NUM_THREADS is
// set in the environment, OpenBLAS is limited to one thread per call to avoid oversubscribing the
// cores.
package blas
