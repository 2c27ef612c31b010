// Package par runs the contiguous chunks of a loop on several goroutines: the one splitting rule
// of the kernels, the executor's element-wise ops and the optimizers.
package par

import (
	"runtime"
	"sync"
)

// Run splits [0, n) into w contiguous chunks (at most n) and calls f(worker, lo, hi) on each, chunk
// 0 on the calling goroutine, and returns when all are done; w ≤ 1 or n ≤ 1 calls f(0, 0, n).
// Chunk i is [i·n/w, (i+1)·n/w): which elements a worker gets depends on n and w only.
func Run(n, w int, f func(worker, lo, hi int)) {
	w = min(w, n)
	if w <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f(i, i*n/w, (i+1)*n/w)
		}(i)
	}
	f(0, 0, n/w)
	wg.Wait()
}

// Chunks calls f on contiguous chunks covering [0, n), on up to GOMAXPROCS goroutines with at
// least minPer elements each (one chunk when n < 2·minPer).
func Chunks(n, minPer int, f func(lo, hi int)) {
	Run(n, min(runtime.GOMAXPROCS(0), n/max(minPer, 1)), func(_, lo, hi int) { f(lo, hi) })
}
