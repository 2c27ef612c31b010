package dataset

import (
	"iter"
	"math/rand/v2"
)

// Batch is a group of examples yielded by Set.Batches.
type Batch struct {
	// X holds len(Y) examples, row-major, each of the set's Shape. It may alias the set's
	// storage and must not be modified.
	X []float32
	// Y holds the examples' labels.
	Y []int
	// Index holds the examples' positions in the set.
	Index []int
}

// Batches returns an iterator over one pass (epoch) through the set in batches of size examples;
// size < 1 means the whole set in one batch. With shuffle nil the examples come in order;
// otherwise in a random order drawn from shuffle, so one generator from NewRand(seed), reused
// for every epoch, gives reproducible and different orders per epoch. The last batch is shorter
// when size does not divide Len(), unless dropLast is set, in which case it is skipped.
func (s *Set) Batches(size int, shuffle *rand.Rand, dropLast bool) iter.Seq[Batch] {
	n, d := s.Len(), s.Dim()
	if size < 1 {
		size = max(n, 1)
	}
	return func(yield func(Batch) bool) {
		var order []int
		if shuffle != nil {
			order = shuffle.Perm(n)
		}
		for from := 0; from < n; from += size {
			to := min(from+size, n)
			if dropLast && to-from < size {
				return
			}
			b := Batch{Index: make([]int, to-from)}
			if order == nil {
				for k := range b.Index {
					b.Index[k] = from + k
				}
				b.X = s.X[from*d : to*d : to*d]
				b.Y = s.Y[from:to:to]
			} else {
				copy(b.Index, order[from:to])
				b.X = make([]float32, (to-from)*d)
				b.Y = make([]int, to-from)
				for k, i := range b.Index {
					copy(b.X[k*d:(k+1)*d], s.X[i*d:(i+1)*d])
					b.Y[k] = s.Y[i]
				}
			}
			if !yield(b) {
				return
			}
		}
	}
}
