package dataset

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// indexed returns a set of n examples of shape [2] whose values encode their position:
// example i is (i, -i) with label i % classes.
func indexed(n, classes int) *Set {
	s := &Set{Shape: []int{2}, Classes: classes, Source: "indexed"}
	for i := range n {
		s.X = append(s.X, float32(i), float32(-i))
		s.Y = append(s.Y, i%classes)
	}
	return s
}

// positions decodes the original positions of a set built by indexed, checking that values and
// labels still belong together.
func positions(t *testing.T, s *Set, classes int) []int {
	t.Helper()
	var pos []int
	for i := range s.Len() {
		x, y := s.Example(i)
		p := int(x[0])
		if x[1] != -x[0] || y != p%classes {
			t.Fatalf("example %d: values %v with label %d do not belong together", i, x, y)
		}
		pos = append(pos, p)
	}
	return pos
}

func TestSplit(t *testing.T) {
	for _, test := range []struct {
		n        int
		fraction float64
		seed     int64
		carved   int
	}{
		{10, 0.2, 1, 2},
		{10, 0.25, 1, 3}, // round half away from zero: 2.5 → 3
		{7, 0.5, 3, 4},
		{1000, 0.1, 42, 100},
		{2, 0.5, 0, 1},
	} {
		s := indexed(test.n, 3)
		rest, carved, err := s.Split(test.fraction, test.seed)
		if err != nil {
			t.Fatalf("n %d fraction %v: %v", test.n, test.fraction, err)
		}
		if carved.Len() != test.carved || rest.Len() != test.n-test.carved {
			t.Errorf("n %d fraction %v: sizes %d + %d, want %d + %d", test.n, test.fraction, rest.Len(), carved.Len(), test.n-test.carved, test.carved)
		}
		pr, pc := positions(t, rest, 3), positions(t, carved, 3)
		if !slices.IsSorted(pr) || !slices.IsSorted(pc) {
			t.Errorf("n %d: parts not in original order: %v | %v", test.n, pr, pc)
		}
		all := slices.Sorted(slices.Values(append(slices.Clone(pr), pc...)))
		for i, p := range all {
			if p != i {
				t.Fatalf("n %d: parts %v | %v are not a partition of 0..%d", test.n, pr, pc, test.n-1)
			}
		}
		_, again, _ := s.Split(test.fraction, test.seed)
		if !slices.Equal(positions(t, again, 3), pc) {
			t.Errorf("n %d seed %d: split not reproducible", test.n, test.seed)
		}
	}
	// Different seeds carve different examples (for a set this size, equal draws would be a
	// 1 in C(1000,100) coincidence).
	_, a, _ := indexed(1000, 3).Split(0.1, 1)
	_, b, _ := indexed(1000, 3).Split(0.1, 2)
	if slices.Equal(a.Y, b.Y) && slices.Equal(a.X, b.X) {
		t.Error("seeds 1 and 2 carved the same examples")
	}
}

func TestSplitErrors(t *testing.T) {
	for _, test := range []struct {
		n        int
		fraction float64
		want     string
	}{
		{10, 0, "split fraction 0, want a value in (0, 1)"},
		{10, 1, "split fraction 1, want a value in (0, 1)"},
		{10, math.NaN(), "split fraction NaN"},
		{10, 0.01, "split fraction 0.01 of 10 examples leaves an empty part"},
		{10, 0.99, "split fraction 0.99 of 10 examples leaves an empty part"},
		{1, 0.5, "leaves an empty part"},
	} {
		_, _, err := indexed(test.n, 2).Split(test.fraction, 1)
		if err == nil || !strings.HasPrefix(err.Error(), "dataset: indexed: ") || !strings.Contains(err.Error(), test.want) {
			t.Errorf("n %d fraction %v: error %v, want %q", test.n, test.fraction, err, test.want)
		}
	}
}

func TestBatches(t *testing.T) {
	for _, test := range []struct {
		n, size  int
		dropLast bool
		sizes    []int
	}{
		{7, 3, false, []int{3, 3, 1}},
		{7, 3, true, []int{3, 3}},
		{6, 3, true, []int{3, 3}},
		{6, 3, false, []int{3, 3}},
		{5, 0, false, []int{5}},
		{5, 8, false, []int{5}},
		{5, 8, true, nil},
		{1, 1, false, []int{1}},
	} {
		s := indexed(test.n, 4)
		for _, shuffled := range []bool{false, true} {
			var rng = NewRand(7)
			if !shuffled {
				rng = nil
			}
			var sizes, seen []int
			for b := range s.Batches(test.size, rng, test.dropLast) {
				sizes = append(sizes, len(b.Y))
				if len(b.X) != 2*len(b.Y) || len(b.Index) != len(b.Y) {
					t.Fatalf("batch with %d values, %d labels, %d indices", len(b.X), len(b.Y), len(b.Index))
				}
				for k, i := range b.Index {
					if b.X[2*k] != float32(i) || b.X[2*k+1] != -float32(i) || b.Y[k] != i%4 {
						t.Fatalf("batch row %d (example %d) holds %v label %d", k, i, b.X[2*k:2*k+2], b.Y[k])
					}
				}
				seen = append(seen, b.Index...)
			}
			if !slices.Equal(sizes, test.sizes) {
				t.Errorf("n %d size %d dropLast %v shuffled %v: batch sizes %v, want %v", test.n, test.size, test.dropLast, shuffled, sizes, test.sizes)
			}
			if !shuffled {
				for k, i := range seen {
					if i != k {
						t.Fatalf("n %d size %d: unshuffled order %v", test.n, test.size, seen)
					}
				}
			}
			if !slices.Equal(slices.Compact(slices.Sorted(slices.Values(seen))), slices.Sorted(slices.Values(seen))) {
				t.Errorf("n %d size %d: an example was yielded twice: %v", test.n, test.size, seen)
			}
			if !test.dropLast && len(seen) != test.n {
				t.Errorf("n %d size %d: %d examples yielded, want all", test.n, test.size, len(seen))
			}
		}
	}
}

func TestBatchesShuffle(t *testing.T) {
	s := indexed(100, 10)
	order := func(seed int64, epochs int) [][]int {
		rng := NewRand(seed)
		var out [][]int
		for range epochs {
			var o []int
			for b := range s.Batches(16, rng, false) {
				o = append(o, b.Index...)
			}
			out = append(out, o)
		}
		return out
	}
	a, b, c := order(1, 2), order(1, 2), order(2, 1)
	if !slices.Equal(a[0], b[0]) || !slices.Equal(a[1], b[1]) {
		t.Error("same seed, different orders")
	}
	if slices.Equal(a[0], a[1]) {
		t.Error("two epochs from one generator came in the same order")
	}
	if slices.Equal(a[0], c[0]) {
		t.Error("seeds 1 and 2 gave the same order")
	}
	if slices.IsSorted(a[0]) {
		t.Error("shuffled epoch is in file order")
	}
	// Stopping early is allowed.
	n := 0
	for range s.Batches(16, NewRand(1), false) {
		if n++; n == 2 {
			break
		}
	}
}

func TestSliceSubsetExample(t *testing.T) {
	s := indexed(6, 4)
	if got := positions(t, s.Slice(2, 5), 4); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("Slice(2, 5) holds %v", got)
	}
	if got := positions(t, s.Subset([]int{5, 0, 3, 3}), 4); !slices.Equal(got, []int{5, 0, 3, 3}) {
		t.Errorf("Subset holds %v", got)
	}
	sub := s.Subset([]int{1})
	sub.X[0] = 99
	if s.X[2] != 1 {
		t.Error("Subset shares storage with the set")
	}
	sl := s.Slice(1, 2)
	sl = sl.Slice(0, 1)
	if x, y := sl.Example(0); x[0] != 1 || y != 1 || len(x) != 2 || cap(x) != 2 {
		t.Errorf("Example(0) of Slice(1, 2) = %v (cap %d), %d", x, cap(x), y)
	}
	if s.Slice(3, 3).Len() != 0 || s.Subset(nil).Len() != 0 {
		t.Error("empty selections are not empty")
	}
}

func TestReshape(t *testing.T) {
	s := &Set{X: make([]float32, 2*12), Y: []int{0, 1}, Shape: []int{1, 4, 3}, Classes: 2, Source: "s"}
	for _, test := range []struct {
		shape []int
		want  string // error, or "" for success
	}{
		{[]int{12}, ""},
		{[]int{3, 4}, ""},
		{[]int{1, 1, 12}, ""},
		{[]int{13}, "dataset: s: cannot reshape examples of shape [1 4 3] (12 values) to [13] (13 values)"},
		{[]int{3, 32, 32}, "(12 values) to [3 32 32] (3072 values)"},
		{nil, "dataset: s: reshape: empty example shape"},
		{[]int{-12, -1}, "dataset: s: reshape: example shape [-12 -1] has a non-positive dimension"},
	} {
		r, err := s.Reshape(test.shape)
		switch {
		case test.want == "" && err != nil:
			t.Errorf("Reshape(%v): %v", test.shape, err)
		case test.want == "" && (!slices.Equal(r.Shape, test.shape) || &r.X[0] != &s.X[0] || !slices.Equal(s.Shape, []int{1, 4, 3})):
			t.Errorf("Reshape(%v) gave shape %v, original now %v", test.shape, r.Shape, s.Shape)
		case test.want != "" && (err == nil || !strings.Contains(err.Error(), test.want)):
			t.Errorf("Reshape(%v): error %v, want %q", test.shape, err, test.want)
		}
	}
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	for _, test := range []struct {
		name string
		s    Set
		want string
	}{
		{"valid", Set{X: []float32{0, 1, 2, 3}, Shape: []int{2}, Y: []int{0, 1}, Classes: 2}, ""},
		{"empty", Set{Shape: []int{2}, Classes: 2}, "dataset: v: no examples"},
		{"no shape", Set{X: []float32{0}, Y: []int{0}, Classes: 1}, "dataset: v: empty example shape"},
		{"too few values", Set{X: []float32{0, 1, 2}, Shape: []int{2}, Y: []int{0, 1}, Classes: 2},
			"dataset: v: 3 values for 2 examples of shape [2], want 4"},
		{"no classes", Set{X: []float32{0, 1}, Shape: []int{2}, Y: []int{0}}, "dataset: v: 0 classes, want at least 1"},
		{"label range", Set{X: []float32{0, 1, 2, 3}, Shape: []int{2}, Y: []int{0, 2}, Classes: 2},
			"dataset: v: label 2 at row 1 out of range [0,2)"},
		{"negative label", Set{X: []float32{0, 1, 2, 3}, Shape: []int{2}, Y: []int{-1, 0}, Classes: 2},
			"dataset: v: label -1 at row 0 out of range [0,2)"},
		{"NaN", Set{X: []float32{0, 1, 2, nan}, Shape: []int{2}, Y: []int{0, 1}, Classes: 2},
			"dataset: v: NaN at row 1, value 1 of 2"},
		{"-Inf", Set{X: []float32{float32(math.Inf(-1)), 1}, Shape: []int{2}, Y: []int{0}, Classes: 2},
			"dataset: v: -Inf at row 0, value 0 of 2"},
		{"names", Set{X: []float32{0, 1}, Shape: []int{2}, Y: []int{0}, Classes: 2, ClassNames: []string{"a"}},
			"dataset: v: 1 class names for 2 classes"},
	} {
		test.s.Source = "v"
		err := test.s.Validate()
		if (err == nil) != (test.want == "") || (err != nil && err.Error() != test.want) {
			t.Errorf("%s: Validate() = %v, want %q", test.name, err, test.want)
		}
	}
}

// TestRandom: Random's sets validate, hold values in [0, 1) and labels in [0, 10), repeat for a
// seed and differ between seeds.
func TestRandom(t *testing.T) {
	a, b, c := Random(50, []int{3, 4, 4}, 1), Random(50, []int{3, 4, 4}, 1), Random(50, []int{3, 4, 4}, 2)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 50 || a.Dim() != 48 {
		t.Fatalf("Len %d Dim %d, want 50 and 48", a.Len(), a.Dim())
	}
	same := true
	for i, v := range a.X {
		if v < 0 || v >= 1 {
			t.Fatalf("X[%d] = %v outside [0, 1)", i, v)
		}
		if v != b.X[i] {
			t.Fatalf("X[%d] differs between two sets of seed 1", i)
		}
		same = same && v == c.X[i]
	}
	if same {
		t.Fatal("seeds 1 and 2 give the same examples")
	}
	for i, y := range a.Y {
		if y < 0 || y >= 10 {
			t.Fatalf("Y[%d] = %d outside [0, 10)", i, y)
		}
	}
}
