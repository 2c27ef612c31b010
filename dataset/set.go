package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Set is a labelled collection of examples.
type Set struct {
	// X holds the examples one after another, Len() × Dim() values, each example row-major in
	// Shape.
	X []float32
	// Shape is the shape of one example, e.g. [1 28 28], [3 32 32] or [784].
	Shape []int
	// Y holds one label per example, each in [0, Classes).
	Y []int
	// Classes is the number of classes.
	Classes int
	// ClassNames names the classes when the source does (image folders); otherwise nil.
	ClassNames []string
	// Source says where the examples came from, for messages: the path given to Load.
	Source string
}

// Len returns the number of examples.
func (s *Set) Len() int { return len(s.Y) }

// Dim returns the number of values in one example, the product of Shape.
func (s *Set) Dim() int { return prod(s.Shape) }

// Example returns the values and label of example i; the values alias the set's storage.
// It panics if i is out of range, like an index expression.
func (s *Set) Example(i int) ([]float32, int) {
	d := s.Dim()
	return s.X[i*d : (i+1)*d : (i+1)*d], s.Y[i]
}

// Slice returns examples [from, to) as a Set sharing storage with s.
// It panics if the bounds are out of range, like a slice expression.
func (s *Set) Slice(from, to int) *Set {
	d := s.Dim()
	t := s.like()
	t.X = s.X[from*d : to*d : to*d]
	t.Y = s.Y[from:to:to]
	return t
}

// Subset returns a copy of the examples at the given indices, in that order.
// It panics if an index is out of range, like an index expression.
func (s *Set) Subset(idx []int) *Set {
	d := s.Dim()
	t := s.like()
	t.X = make([]float32, len(idx)*d)
	t.Y = make([]int, len(idx))
	for k, i := range idx {
		copy(t.X[k*d:(k+1)*d], s.X[i*d:(i+1)*d])
		t.Y[k] = s.Y[i]
	}
	return t
}

// Split carves round(fraction × Len()) examples, chosen uniformly at random by a generator seeded
// with seed, off the set: carved holds them and rest holds the others. Both keep the examples'
// original order and are copies. The same seed always carves the same examples. Both parts must
// be non-empty, so fraction must lie in (0, 1) and the set must be large enough.
func (s *Set) Split(fraction float64, seed int64) (rest, carved *Set, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("dataset: %s: split fraction %v, want a value in (0, 1)", s.Source, fraction)
	}
	n := s.Len()
	k := int(math.Round(fraction * float64(n)))
	if k < 1 || k > n-1 {
		return nil, nil, fmt.Errorf("dataset: %s: split fraction %v of %d examples leaves an empty part", s.Source, fraction, n)
	}
	perm := newRand(seed, streamSplit).Perm(n)
	c, r := perm[:k], perm[k:]
	slices.Sort(c)
	slices.Sort(r)
	return s.Subset(r), s.Subset(c), nil
}

// Reshape returns the set with each example viewed as shape, sharing storage with s. The number
// of values per example must not change.
func (s *Set) Reshape(shape []int) (*Set, error) {
	if err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("dataset: %s: reshape: %w", s.Source, err)
	}
	if prod(shape) != s.Dim() {
		return nil, fmt.Errorf("dataset: %s: cannot reshape examples of shape %v (%d values) to %v (%d values)",
			s.Source, s.Shape, s.Dim(), shape, prod(shape))
	}
	t := *s
	t.Shape = slices.Clone(shape)
	return &t, nil
}

// Validate checks the set's invariants: at least one example, a valid shape, Len() × Dim()
// values, labels in [0, Classes) and finite values. Load returns only valid sets; Validate is
// for sets built or modified by hand.
func (s *Set) Validate() error {
	if err := checkShape(s.Shape); err != nil {
		return fmt.Errorf("dataset: %s: %w", s.Source, err)
	}
	n := s.Len()
	if n == 0 {
		return fmt.Errorf("dataset: %s: no examples", s.Source)
	}
	if len(s.X) != n*s.Dim() {
		return fmt.Errorf("dataset: %s: %d values for %d examples of shape %v, want %d",
			s.Source, len(s.X), n, s.Shape, n*s.Dim())
	}
	if s.Classes < 1 {
		return fmt.Errorf("dataset: %s: %d classes, want at least 1", s.Source, s.Classes)
	}
	if s.ClassNames != nil && len(s.ClassNames) != s.Classes {
		return fmt.Errorf("dataset: %s: %d class names for %d classes", s.Source, len(s.ClassNames), s.Classes)
	}
	if err := checkLabels(s.Y, s.Classes); err != nil {
		return fmt.Errorf("dataset: %s: %w", s.Source, err)
	}
	if err := checkFinite(s.X, s.Dim()); err != nil {
		return fmt.Errorf("dataset: %s: %w", s.Source, err)
	}
	return nil
}

// like returns a Set with s's metadata and no examples.
func (s *Set) like() *Set {
	return &Set{Shape: slices.Clone(s.Shape), Classes: s.Classes, ClassNames: s.ClassNames, Source: s.Source}
}

// Random streams, so that a split and a batch order drawn from the same seed differ.
const (
	streamSplit = 0x5eed_5711
	streamBatch = 0xba7c_0001
)

// newRand returns a PCG generator for seed on the given stream.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// NewRand returns the generator Set.Batches expects for shuffling, seeded with seed. Reusing
// one generator across epochs gives each epoch a different, reproducible order.
func NewRand(seed int64) *rand.Rand { return newRand(seed, streamBatch) }

func prod(shape []int) int {
	p := 1
	for _, v := range shape {
		p *= v
	}
	return p
}

// checkShape reports a per-example shape that is empty or has a non-positive dimension.
func checkShape(shape []int) error {
	if len(shape) == 0 {
		return errors.New("empty example shape")
	}
	for _, v := range shape {
		if v <= 0 {
			return fmt.Errorf("example shape %v has a non-positive dimension", shape)
		}
	}
	return nil
}

// checkLabels reports the first label outside [0, classes); classes <= 0 checks only the sign.
func checkLabels(y []int, classes int) error {
	for i, v := range y {
		if v < 0 || (classes > 0 && v >= classes) {
			if classes <= 0 {
				return fmt.Errorf("label %d at row %d is negative", v, i)
			}
			return fmt.Errorf("label %d at row %d out of range [0,%d)", v, i, classes)
		}
	}
	return nil
}

// checkFinite reports the first NaN or infinite value, by row and position in the row.
func checkFinite(x []float32, dim int) error {
	for i, v := range x {
		if v-v != 0 { // NaN or ±Inf
			return fmt.Errorf("%v at row %d, value %d of %d", v, i/dim, i%dim, dim)
		}
	}
	return nil
}
