package par

import (
	"sync"
	"testing"
)

// TestRunCovers: every index of [0, n) is visited exactly once, by contiguous chunks whose worker
// indices are distinct and below min(w, n).
func TestRunCovers(t *testing.T) {
	for _, tt := range []struct{ n, w int }{{0, 4}, {1, 4}, {3, 8}, {10, 1}, {10, 3}, {1000, 7}, {5, 0}, {5, -2}} {
		seen := make([]int, tt.n)
		workers := map[int]bool{}
		var mu sync.Mutex
		Run(tt.n, tt.w, func(worker, lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			if workers[worker] {
				t.Errorf("n=%d w=%d: worker %d ran twice", tt.n, tt.w, worker)
			}
			workers[worker] = true
			if worker >= max(1, min(tt.w, tt.n)) {
				t.Errorf("n=%d w=%d: worker index %d", tt.n, tt.w, worker)
			}
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Errorf("n=%d w=%d: index %d visited %d times", tt.n, tt.w, i, c)
			}
		}
	}
}

func TestChunksCovers(t *testing.T) {
	for _, n := range []int{0, 1, 99, 1 << 16, 1<<16 + 3} {
		seen := make([]int32, n)
		Chunks(n, 1<<10, func(lo, hi int) {
			if hi-lo < 1<<10 && hi-lo != n {
				t.Errorf("n=%d: chunk [%d, %d) below the minimum", n, lo, hi)
			}
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, c)
			}
		}
	}
}
