package linear

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Data is a regression data set: X is n×p row-major (X[i] is example i), Y has n targets.
type Data struct {
	X     [][]float64
	Y     []float64
	Names []string // feature names, len p
}

// Len is the number of examples.
func (d Data) Len() int { return len(d.Y) }

// Dim is the number of features.
func (d Data) Dim() int {
	if len(d.X) == 0 {
		return len(d.Names)
	}
	return len(d.X[0])
}

// Subset returns the examples at idx (rows are shared, not copied).
func (d Data) Subset(idx []int) Data {
	out := Data{X: make([][]float64, len(idx)), Y: make([]float64, len(idx)), Names: d.Names}
	for k, i := range idx {
		out.X[k], out.Y[k] = d.X[i], d.Y[i]
	}
	return out
}

// ReadCSV reads a numeric CSV file with a header row; target names the column to predict, every
// other column is a feature. Empty or non-numeric cells are refused with the file, row and column.
func ReadCSV(path, target string) (Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return Data{}, fmt.Errorf("linear: %w", err)
	}
	defer f.Close()
	d, err := readCSV(f, target)
	if err != nil {
		return Data{}, fmt.Errorf("linear: %s: %w", path, err)
	}
	return d, nil
}

func readCSV(r io.Reader, target string) (Data, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Data{}, errors.New("empty file, expected a header row")
		}
		return Data{}, err
	}
	ti := -1
	var names []string
	for j, h := range header {
		h = strings.TrimSpace(h)
		if h == target {
			ti = j
		} else {
			names = append(names, h)
		}
	}
	if ti < 0 {
		return Data{}, fmt.Errorf("no column %q in the header (columns: %s)", target, strings.Join(header, ", "))
	}
	if len(names) == 0 {
		return Data{}, errors.New("no feature columns besides the target")
	}
	d := Data{Names: names}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Data{}, err
		}
		x := make([]float64, 0, len(names))
		var y float64
		for j, cell := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return Data{}, fmt.Errorf("row %d, column %q: %q is not a finite number", row, header[j], cell)
			}
			if j == ti {
				y = v
			} else {
				x = append(x, v)
			}
		}
		d.X = append(d.X, x)
		d.Y = append(d.Y, y)
	}
	if d.Len() == 0 {
		return Data{}, errors.New("no data rows")
	}
	return d, nil
}

// Standardizer centres features and target with training statistics and, when asked, divides
// them by their standard deviations. Models fitted on standardized data are mapped back by
// Unstandardize, so predictions and MSEs are always in the target's own units.
type Standardizer struct {
	XMean, XScale []float64
	YMean, YScale float64
}

// FitStandardizer computes the statistics on d. With scale false, XScale is all ones and YScale
// is 1 (centring only). A constant column keeps scale 1.
func FitStandardizer(d Data, scale bool) Standardizer {
	p, n := d.Dim(), float64(d.Len())
	s := Standardizer{XMean: make([]float64, p), XScale: make([]float64, p), YScale: 1}
	for i, x := range d.X {
		for j, v := range x {
			s.XMean[j] += v
		}
		s.YMean += d.Y[i]
	}
	for j := range s.XMean {
		s.XMean[j] /= n
	}
	s.YMean /= n
	for j := range s.XScale {
		s.XScale[j] = 1
		if !scale {
			continue
		}
		var ss float64
		for _, x := range d.X {
			ss += (x[j] - s.XMean[j]) * (x[j] - s.XMean[j])
		}
		if sd := math.Sqrt(ss / n); sd > 0 {
			s.XScale[j] = sd
		}
	}
	if scale {
		var ss float64
		for _, y := range d.Y {
			ss += (y - s.YMean) * (y - s.YMean)
		}
		if sd := math.Sqrt(ss / n); sd > 0 {
			s.YScale = sd
		}
	}
	return s
}

// Apply returns d standardized (a copy).
func (s Standardizer) Apply(d Data) Data {
	out := Data{X: make([][]float64, d.Len()), Y: make([]float64, d.Len()), Names: d.Names}
	for i, x := range d.X {
		r := make([]float64, len(x))
		for j, v := range x {
			r[j] = (v - s.XMean[j]) / s.XScale[j]
		}
		out.X[i] = r
		out.Y[i] = (d.Y[i] - s.YMean) / s.YScale
	}
	return out
}

// Model is a fitted linear model in the original units: ŷ = Intercept + Σ Coef_j x_j.
type Model struct {
	Coef      []float64
	Intercept float64
}

// Unstandardize turns weights fitted on standardized data into a Model on the original features.
func (s Standardizer) Unstandardize(w []float64) Model {
	m := Model{Coef: make([]float64, len(w)), Intercept: s.YMean}
	for j, v := range w {
		m.Coef[j] = v * s.YScale / s.XScale[j]
		m.Intercept -= m.Coef[j] * s.XMean[j]
	}
	return m
}

// Predict returns ŷ for every example of d.
func (m Model) Predict(d Data) []float64 {
	out := make([]float64, d.Len())
	for i, x := range d.X {
		out[i] = m.Intercept + dot(m.Coef, x)
	}
	return out
}

// MSE is the mean squared error of m on d.
func (m Model) MSE(d Data) float64 { return mse(m.Predict(d), d.Y) }

// NonZero counts the exactly non-zero coefficients.
func (m Model) NonZero() int { return nonZero(m.Coef) }

func nonZero(w []float64) int {
	k := 0
	for _, v := range w {
		if v != 0 {
			k++
		}
	}
	return k
}

func mse(pred, y []float64) float64 {
	var s float64
	for i := range y {
		e := pred[i] - y[i]
		s += e * e
	}
	return s / float64(len(y))
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm2(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func norm1(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += math.Abs(v)
	}
	return s
}

// RidgeSynthetic draws the protocol's ridge problem (PROTOCOL.md, "Norm-based problems"): 5
// independent standard-normal base features, 100 features = 20 copies of each plus Gaussian noise
// of std 0.1, true coefficients alternating +1/−1 within each group, target noise std 1. The
// generator is math/rand/v2 PCG(seed, 0); the training, regularization and test sets are drawn
// in that order.
//
// With acrossGroups true the signs alternate between groups instead (+1 for every copy of base
// feature 0, −1 for base feature 1, …): a supplementary variant in which the target depends on the
// shared base features, so that regularization has a signal to keep (within groups the ±1 cancel
// on the base feature and only the copies' own noise carries signal).
func RidgeSynthetic(seed uint64, nTrain, nReg, nTest int, acrossGroups bool) (train, reg, test Data) {
	const bases, copies = 5, 20
	rng := rand.New(rand.NewPCG(seed, 0))
	p := bases * copies
	names := make([]string, p)
	beta := make([]float64, p)
	for j := range p {
		names[j] = fmt.Sprintf("x%d_%d", j/copies, j%copies)
		beta[j] = 1
		if k := j % copies; acrossGroups {
			k = j / copies
			if k%2 == 1 {
				beta[j] = -1
			}
		} else if k%2 == 1 {
			beta[j] = -1
		}
	}
	draw := func(n int) Data {
		d := Data{X: make([][]float64, n), Y: make([]float64, n), Names: names}
		z := make([]float64, bases)
		for i := range n {
			for b := range z {
				z[b] = rng.NormFloat64()
			}
			x := make([]float64, p)
			for j := range x {
				x[j] = z[j/copies] + 0.1*rng.NormFloat64()
			}
			d.X[i] = x
			d.Y[i] = dot(beta, x) + rng.NormFloat64()
		}
		return d
	}
	return draw(nTrain), draw(nReg), draw(nTest)
}

// SplitDiabetes is split k of the protocol's lasso problem: a shuffle of the rows by
// math/rand/v2 PCG(k, 0), the first 20 % (rounded down) as the test set, and of the rest the first
// 80 % (rounded down) for training and the remainder as the regularization set.
func SplitDiabetes(d Data, k uint64) (train, reg, test Data) {
	perm := rand.New(rand.NewPCG(k, 0)).Perm(d.Len())
	nTest := d.Len() / 5
	rest := perm[nTest:]
	nTrain := len(rest) * 4 / 5
	return d.Subset(rest[:nTrain]), d.Subset(rest[nTrain:]), d.Subset(perm[:nTest])
}

// SplitFraction shuffles d with PCG(seed, 0) and holds out the fraction f (0 < f < 1, at least
// one example on each side) as the regularization set.
func SplitFraction(d Data, f float64, seed uint64) (train, reg Data, err error) {
	if !(f > 0 && f < 1) {
		return Data{}, Data{}, fmt.Errorf("linear: regularization fraction %g is not in (0, 1)", f)
	}
	nReg := int(math.Round(f * float64(d.Len())))
	if nReg < 1 || nReg >= d.Len() {
		return Data{}, Data{}, fmt.Errorf("linear: regularization fraction %g of %d examples leaves an empty split", f, d.Len())
	}
	perm := rand.New(rand.NewPCG(seed, 0)).Perm(d.Len())
	return d.Subset(perm[nReg:]), d.Subset(perm[:nReg]), nil
}

// SplineTruth is the function of the spline example: a smooth wave with one sharp bump,
// f(x) = sin(2πx) + 0.6·exp(−((x − 0.7)/0.05)²) on [0, 1]. (The paper's formula did not survive
// the text extraction of the seed paper; this one has the features App. B.3 describes.)
func SplineTruth(x float64) float64 {
	z := (x - 0.7) / 0.05
	return math.Sin(2*math.Pi*x) + 0.6*math.Exp(-z*z)
}

// SplineNoise is the example's heteroscedastic noise standard deviation, 0.05 + 0.3·x.
func SplineNoise(x float64) float64 { return 0.05 + 0.3*x }

// SplineGaps are the intervals of [0, 1] where the example has no data.
var SplineGaps = [][2]float64{{0.25, 0.4}, {0.82, 0.95}}

// SplineSynthetic draws n points of the spline example: x uniform on [0, 1] outside SplineGaps,
// y = SplineTruth(x) + SplineNoise(x)·ε, from math/rand/v2 PCG(seed, 0).
func SplineSynthetic(seed uint64, n int) Data {
	rng := rand.New(rand.NewPCG(seed, 0))
	d := Data{Names: []string{"x"}}
	for d.Len() < n {
		x := rng.Float64()
		inGap := false
		for _, g := range SplineGaps {
			inGap = inGap || (x > g[0] && x < g[1])
		}
		if inGap {
			continue
		}
		d.X = append(d.X, []float64{x})
		d.Y = append(d.Y, SplineTruth(x)+SplineNoise(x)*rng.NormFloat64())
	}
	return d
}
