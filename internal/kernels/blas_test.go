package kernels

// In the default build the kernel tests run on OpenBLAS (gorgonia.Use in internal/blas); with
// -tags purego on gonum.
import _ "github.com/xreg-onnx/xreg-onnx/internal/blas"
