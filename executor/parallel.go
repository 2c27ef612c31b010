package executor

import (
	"runtime"

	"github.com/xreg-onnx/xreg-onnx/internal/par"
)

// minChunk is the fewest elements worth a goroutine of an elementwise kernel: below it, the
// goroutine costs more than it saves.
const minChunk = 1 << 15

// parallelChunks calls f on [lo, hi) chunks covering [0, n), spread over up to GOMAXPROCS
// goroutines when n is large enough; f must only touch its own chunk.
func parallelChunks(n int, f func(lo, hi int)) {
	parallelN(n, min(runtime.GOMAXPROCS(0), n/minChunk), f)
}

// parallelN splits [0, n) into w contiguous chunks and runs f on each (par.Run).
func parallelN(n, w int, f func(lo, hi int)) {
	par.Run(n, w, func(_, lo, hi int) { f(lo, hi) })
}
