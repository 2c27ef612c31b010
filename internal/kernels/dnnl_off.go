//go:build purego || !cgo || nodnnl

package kernels

// convBackend names the convolution path of this build.
const convBackend = "im2col + gemm (Go)"

// dnnlConv is empty in a pure-Go build: every convolution runs the Go kernels.
type dnnlConv struct{}

func dnnlConvRun(*dnnlConv, *convCfg, int, [][]float32, []bool, *scratch, func(int) [][]float32) bool {
	return false
}

func (*dnnlConv) active() bool { return false }

// dnnlChunkBytes is unused in a pure-Go build (tests set it).
var dnnlChunkBytes = 8 << 20

// dnnlSplitOn is unused in a pure-Go build (tests set it).
var dnnlSplitOn = true

// splitRan reports whether the last run split channels over workers (never here).
func (*dnnlConv) splitRan() bool { return false }
