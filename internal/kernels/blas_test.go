package kernels

// With -tags cblas the kernel tests run on OpenBLAS (gorgonia.Use in internal/blas).
import _ "github.com/xreg-onnx/xreg-onnx/internal/blas"
