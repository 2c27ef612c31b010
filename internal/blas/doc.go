// Package blas selects the BLAS that Gorgonia and the project's kernels use.
//
// internal/kernels imports it, so every binary that trains gets it; main packages may also import
// it for its side effect:
//
//	import _ "github.com/xreg-onnx/xreg-onnx/internal/blas"
//
// A default build (cgo) links OpenBLAS (Debian libopenblas-dev, installed by scripts/setup.sh) and
// switches gorgonia.WhichBLAS to it with gorgonia.Use, which both the Gorgonia ops and the kernels
// of internal/kernels and xreg call for every matrix product. Built with the tag purego (or with
// CGO_ENABLED=0), the package keeps Gorgonia's pure-Go BLAS (gonum) and needs no C toolchain:
//
//	go build -tags purego ./cmd/xreg-onnx
//
// The kernels already spread images over GOMAXPROCS goroutines, so unless OPENBLAS_NUM_THREADS is
// set in the environment, OpenBLAS is limited to one thread per call to avoid oversubscribing the
// cores.
package blas
