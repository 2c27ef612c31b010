package testutil

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Root returns the repository's root folder, found from this file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ModelPath returns the path of a file under testdata/models.
func ModelPath(name string) string { return filepath.Join(Root(), "testdata", "models", name) }

// NormFixture is one model of testdata/models/norm-manifest.json (scripts/make_norm_fixtures.py):
// how many InstanceNormalization and GroupNormalization nodes it holds and the batch of its
// reference examples.
type NormFixture struct {
	Name         string
	File         string `json:"file"`
	InstanceNorm int    `json:"instance_norm"`
	GroupNorm    int    `json:"group_norm"`
	Batch        int    `json:"batch"`
}

// Path returns the fixture's file with the given suffix (".onnx", ".input.npy", ".output.npy").
func (f NormFixture) Path(suffix string) string { return ModelPath(f.Name + suffix) }

// NormFixtures reads norm-manifest.json, sorted by name.
func NormFixtures(t testing.TB) []NormFixture {
	t.Helper()
	data, err := os.ReadFile(ModelPath("norm-manifest.json"))
	if err != nil {
		t.Fatalf("%v (make it with /usr/bin/python3 scripts/make_norm_fixtures.py)", err)
	}
	var m map[string]NormFixture
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := make([]NormFixture, 0, len(m))
	for name, f := range m {
		f.Name = name
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// BitsEqual reports whether a and b hold the same float32 values bit for bit.
func BitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// MaxAbsDiff returns max |a[i] − b[i]| (as float64); a and b must have the same length. NaN on
// either side gives +Inf, so a tolerance check on the result fails.
func MaxAbsDiff[A, B float32 | float64](t testing.TB, a []A, b []B) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("lengths %d and %d differ", len(a), len(b))
	}
	d := 0.0
	for i := range a {
		e := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(e) {
			return math.Inf(1)
		}
		d = math.Max(d, e)
	}
	return d
}

// Close reports whether |got − want| ≤ atol + rtol·|want| (numpy.isclose; NaN is never close).
func Close(got, want, atol, rtol float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// SetLogSigma sets every element of every noise parameter (log σ) of the injected model m to v.
func SetLogSigma(t testing.TB, m *onnximport.Model, v float32) {
	t.Helper()
	regs, err := inject.Regs(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regs {
		if r.Kind != inject.KindNoise {
			continue
		}
		old := m.Graph.Initializers[r.Name]
		data := make([]float32, old.Size())
		for i := range data {
			data[i] = v
		}
		if err := m.SetInitializer(onnximport.NewFloatTensor(r.Name, old.Dims, data)); err != nil {
			t.Fatal(err)
		}
	}
}

// Mismatch is the outcome of Compare.
type Mismatch[T float32 | float64] struct {
	// MaxAbs is the largest |got − want|, at index At, where got holds Got and want Want (NaN
	// against a number counts as +Inf; NaN against NaN and equal infinities as 0).
	MaxAbs    float64
	At        int
	Got, Want T
	// Bad counts the elements outside the tolerance; FirstBad is the first of them (-1 if none).
	Bad      int
	FirstBad int
	// Ratio is the worst |got − want| / (atol + rtol·|want|), at RatioAt: ≤ 1 passes.
	Ratio   float64
	RatioAt int
}

// Compare is the tests' one float comparison: element i is within tolerance when
// |got[i] − want[i]| ≤ atol + rtol·|want[i]| (numpy.testing.assert_allclose's rule, NaN equal to
// NaN). Slices of different lengths compare as all bad.
func Compare[T float32 | float64](got, want []T, atol, rtol float64) Mismatch[T] {
	m := Mismatch[T]{At: -1, FirstBad: -1, RatioAt: -1}
	if len(got) != len(want) {
		m.MaxAbs, m.Bad, m.FirstBad, m.Ratio = math.Inf(1), max(len(got), len(want)), 0, math.Inf(1)
		return m
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		var d float64
		switch {
		case math.IsNaN(g) && math.IsNaN(w), g == w: // equal, including equal infinities
		case math.IsNaN(g) || math.IsNaN(w):
			d = math.Inf(1)
		default:
			d = math.Abs(g - w)
		}
		if d > m.MaxAbs || m.At < 0 {
			m.MaxAbs, m.At, m.Got, m.Want = d, i, got[i], want[i]
		}
		bound := atol + rtol*math.Abs(w)
		if d > bound || (d != 0 && math.IsInf(d, 1)) {
			m.Bad++
			if m.FirstBad < 0 {
				m.FirstBad = i
			}
		}
		r := d / bound
		if d == 0 {
			r = 0
		}
		if r > m.Ratio || m.RatioAt < 0 {
			m.Ratio, m.RatioAt = r, i
		}
	}
	return m
}
