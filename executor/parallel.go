package executor

import (
	"runtime"
	"sync"
)

// minChunk is the fewest elements worth a goroutine of an elementwise kernel: below it, the
// goroutine costs more than it saves.
const minChunk = 1 << 15

// parallelChunks calls f on [lo, hi) chunks covering [0, n), spread over up to GOMAXPROCS
// goroutines when n is large enough; f must only touch its own chunk.
func parallelChunks(n int, f func(lo, hi int)) {
	parallelN(n, min(runtime.GOMAXPROCS(0), n/minChunk), f)
}

// parallelN splits [0, n) into w contiguous chunks and runs f on each, the first on the calling
// goroutine; w ≤ 1 runs f(0, n) directly.
func parallelN(n, w int, f func(lo, hi int)) {
	if w <= 1 || n <= 1 {
		f(0, n)
		return
	}
	w = min(w, n)
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(i*n/w, (i+1)*n/w)
	}
	f(0, n/w)
	wg.Wait()
}
