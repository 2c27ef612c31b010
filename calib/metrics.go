package calib

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/xreg-onnx/xreg-onnx/internal/probs"
)

const (
	// DefaultBins is the number of confidence bins used when Compute is
	// given 0 bins.
	DefaultBins = 15
	// RowSumTolerance is how far a row of probabilities may sum from 1
	// (the project's one tolerance, probs.Tolerance).
	RowSumTolerance = probs.Tolerance
	// ProbFloor is the smallest probability used inside the logarithm of
	// the NLL (probs.Floor).
	ProbFloor = probs.Floor
)

// ErrNotProbabilities is wrapped by the errors of Compute when a row is not
// a probability distribution (negative entries or a sum away from 1), which
// usually means the rows are logits; see Softmax.
var ErrNotProbabilities = errors.New("calib: rows are not probability distributions")

// Metrics are the calibration metrics of one model on one data set.
// Bins with no examples have Count 0 and zero Confidence and Accuracy.
type Metrics struct {
	N        int     `json:"n"`        // number of examples
	Classes  int     `json:"classes"`  // number of classes K
	Accuracy float64 `json:"accuracy"` // top-1 accuracy
	// MeanConfidence is the mean top-label confidence; MeanConfidence −
	// Accuracy > 0 means the model is over-confident on average.
	MeanConfidence float64 `json:"mean_confidence"`
	NLL            float64 `json:"nll"`          // mean −ln p[y], p floored at ProbFloor
	Brier          float64 `json:"brier"`        // multi-class Brier score, in [0, 2]
	ECE            float64 `json:"ece"`          // equal-width bins
	AdaptiveECE    float64 `json:"adaptive_ece"` // equal-mass bins
	MCE            float64 `json:"mce"`          // equal-width bins, non-empty only
	// PerClass holds one entry per class, in class order.
	PerClass []ClassStat `json:"per_class"`
	// Bins are the B equal-width bins, empty ones included.
	Bins []Bin `json:"bins"`
	// AdaptiveBins are the non-empty equal-mass bins (fewer than B only
	// when there are fewer than B examples).
	AdaptiveBins []Bin `json:"adaptive_bins"`
}

// Bin holds the statistics of one confidence bin.
type Bin struct {
	Lower      float64 `json:"lower"`      // lower edge (exclusive, except 0)
	Upper      float64 `json:"upper"`      // upper edge (inclusive)
	Count      int     `json:"count"`      // examples in the bin
	Confidence float64 `json:"confidence"` // mean top-label confidence
	Accuracy   float64 `json:"accuracy"`   // fraction predicted correctly
}

// ClassStat is the accuracy on the examples of one class (its recall).
// Accuracy is 0 when Count is 0.
type ClassStat struct {
	Class    int     `json:"class"`
	Count    int     `json:"count"`   // examples labelled with the class
	Correct  int     `json:"correct"` // of which predicted correctly
	Accuracy float64 `json:"accuracy"`
}

// Compute returns the calibration metrics of the class probabilities ps
// (ps[i][k] for example i and class k) against the labels, using bins
// confidence bins for ECE, adaptive ECE and MCE; bins = 0 selects
// DefaultBins. See the package documentation for the definitions.
func Compute(ps [][]float64, labels []int, bins int) (*Metrics, error) {
	if bins == 0 {
		bins = DefaultBins
	}
	if bins < 0 {
		return nil, fmt.Errorf("calib: bin count %d must be positive", bins)
	}
	k, err := checkMatrix("probability", ps, labels)
	if err != nil {
		return nil, err
	}
	for i, row := range ps {
		if err := probs.Check(row); err != nil {
			return nil, fmt.Errorf("%w: row %d %v (if these are logits, convert them with Softmax)", ErrNotProbabilities, i, err)
		}
	}
	n := len(ps)
	m := &Metrics{N: n, Classes: k, PerClass: make([]ClassStat, k)}
	conf := make([]float64, n)
	correct := make([]bool, n)
	var nCorrect int
	var sumConf, sumNLL, sumBrier float64
	for i, row := range ps {
		y := labels[i]
		pred := probs.Argmax(row)
		conf[i] = row[pred]
		correct[i] = pred == y
		m.PerClass[y].Count++
		if correct[i] {
			nCorrect++
			m.PerClass[y].Correct++
		}
		sumConf += conf[i]
		sumNLL += probs.NLL(row, y)
		for j, v := range row {
			d := v
			if j == y {
				d = v - 1
			}
			sumBrier += d * d
		}
	}
	fn := float64(n)
	m.Accuracy = float64(nCorrect) / fn
	m.MeanConfidence = sumConf / fn
	m.NLL = sumNLL / fn
	m.Brier = sumBrier / fn
	for j := range m.PerClass {
		c := &m.PerClass[j]
		c.Class = j
		if c.Count > 0 {
			c.Accuracy = float64(c.Correct) / float64(c.Count)
		}
	}

	// Equal-width bins.
	m.Bins = make([]Bin, bins)
	sums := make([]binSum, bins)
	for i, c := range conf {
		sums[binIndex(c, bins)].add(c, correct[i])
	}
	for b := range m.Bins {
		m.Bins[b] = sums[b].bin(float64(b)/float64(bins), float64(b+1)/float64(bins))
	}
	m.ECE, m.MCE = gaps(m.Bins, n)

	// Equal-mass bins.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return conf[order[a]] < conf[order[b]] })
	for b := range bins {
		lo, hi := n*b/bins, n*(b+1)/bins
		if lo == hi {
			continue
		}
		var s binSum
		for _, i := range order[lo:hi] {
			s.add(conf[i], correct[i])
		}
		m.AdaptiveBins = append(m.AdaptiveBins, s.bin(conf[order[lo]], conf[order[hi-1]]))
	}
	m.AdaptiveECE, _ = gaps(m.AdaptiveBins, n)
	return m, nil
}

// binIndex returns the equal-width bin of confidence c among bins bins:
// bin b covers (b/bins, (b+1)/bins], bin 0 also includes 0. The edges are
// the same float64 expressions Compute reports as Lower and Upper.
func binIndex(c float64, bins int) int {
	fb := float64(bins)
	b := int(math.Ceil(c*fb)) - 1
	b = max(0, min(b, bins-1))
	// Correct rounding of c*fb so that the result agrees with the edges.
	for b > 0 && c <= float64(b)/fb {
		b--
	}
	for b < bins-1 && c > float64(b+1)/fb {
		b++
	}
	return b
}

type binSum struct {
	n       int
	conf    float64
	correct int
}

func (s *binSum) add(c float64, ok bool) {
	s.n++
	s.conf += c
	if ok {
		s.correct++
	}
}

func (s *binSum) bin(lo, hi float64) Bin {
	b := Bin{Lower: lo, Upper: hi, Count: s.n}
	if s.n > 0 {
		b.Confidence = s.conf / float64(s.n)
		b.Accuracy = float64(s.correct) / float64(s.n)
	}
	return b
}

// gaps returns Σ (n_b/n)|acc_b − conf_b| and max |acc_b − conf_b| over the
// non-empty bins.
func gaps(bins []Bin, n int) (ece, mce float64) {
	for _, b := range bins {
		if b.Count == 0 {
			continue
		}
		g := math.Abs(b.Accuracy - b.Confidence)
		ece += float64(b.Count) / float64(n) * g
		mce = math.Max(mce, g)
	}
	return ece, mce
}

// checkMatrix validates a non-empty rectangular matrix of finite values with
// at least two columns and matching labels in [0, K); it returns K.
func checkMatrix(what string, rows [][]float64, labels []int) (int, error) {
	k, err := checkRows(what, rows)
	if err != nil {
		return 0, err
	}
	if len(labels) != len(rows) {
		return 0, fmt.Errorf("calib: %d %s rows but %d labels", len(rows), what, len(labels))
	}
	for i, y := range labels {
		if y < 0 || y >= k {
			return 0, fmt.Errorf("calib: row %d: label %d out of range [0, %d)", i, y, k)
		}
	}
	return k, nil
}

// checkRows validates a non-empty rectangular matrix of finite values with
// at least two columns; it returns the number of columns.
func checkRows(what string, rows [][]float64) (int, error) {
	if len(rows) == 0 {
		return 0, fmt.Errorf("calib: no examples")
	}
	k := len(rows[0])
	if k < 2 {
		return 0, fmt.Errorf("calib: %d classes, need at least 2", k)
	}
	for i, row := range rows {
		if len(row) != k {
			return 0, fmt.Errorf("calib: row %d has %d classes, row 0 has %d", i, len(row), k)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("calib: row %d class %d: %s %g is not finite", i, j, what, v)
			}
		}
	}
	return k, nil
}
