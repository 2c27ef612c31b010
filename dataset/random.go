package dataset

import "math/rand/v2"

// Random returns n examples of the given shape with pixels uniform in [0, 1) and labels uniform in
// [0, 10), reproducibly for a seed: the data of speed benchmarks, where the values do not matter.
func Random(n int, shape []int, seed uint64) *Set {
	r := rand.New(rand.NewPCG(seed, seed))
	s := &Set{X: make([]float32, n*prod(shape)), Shape: append([]int(nil), shape...), Y: make([]int, n), Classes: 10, Source: "random"}
	for i := range s.X {
		s.X[i] = r.Float32()
	}
	for i := range s.Y {
		s.Y[i] = r.IntN(10)
	}
	return s
}
