package calib

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/probs"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

// binary returns rows [c, 1-c]; label 0 when correct[i], else 1.
func binary(conf []float64, correct []bool) ([][]float64, []int) {
	probs := make([][]float64, len(conf))
	labels := make([]int, len(conf))
	for i, c := range conf {
		probs[i] = []float64{c, 1 - c}
		if !correct[i] {
			labels[i] = 1
		}
	}
	return probs, labels
}

// TestComputeBins checks equal-width binning, ECE and MCE against values
// worked out on paper.
func TestComputeBins(t *testing.T) {
	base := [][]float64{
		{0.4, 0.2, 0.2, 0.2},     // conf .40, label 0: correct, bin 0
		{0.45, 0.25, 0.2, 0.1},   // conf .45, label 1: wrong, bin 0
		{0.9, 0.05, 0.03, 0.02},  // conf .90, label 0: correct, bin 1
		{0.8, 0.1, 0.05, 0.05},   // conf .80, label 1: wrong, bin 1
		{0.7, 0.1, 0.1, 0.1},     // conf .70, label 0: correct, bin 1
		{0.5, 0.2, 0.2, 0.1},     // conf .50 exactly: bin 0 is (0, .5]
		{0.25, 0.25, 0.25, 0.25}, // conf .25, tie: class 0 predicted
	}
	for _, test := range []struct {
		name   string
		rows   []int // indices into base
		labels []int
		bins   []Bin
		ece    float64
		mce    float64
		acc    float64
	}{
		{
			// bin 0: conf (.4+.45)/2 = .425, acc 1/2, gap .075
			// bin 1: conf (.9+.8+.7)/3 = .8, acc 2/3, gap 2/15
			// ECE = 2/5·.075 + 3/5·2/15 = .03 + .08 = .11
			name:   "five",
			rows:   []int{0, 1, 2, 3, 4},
			labels: []int{0, 1, 0, 1, 0},
			bins:   []Bin{{0, 0.5, 2, 0.425, 0.5}, {0.5, 1, 3, 0.8, 2.0 / 3}},
			ece:    0.11, mce: 2.0 / 15, acc: 0.6,
		},
		{
			// conf .5 joins bin 0: conf .45, acc 2/3, gap 13/60
			// ECE = 3/6·13/60 + 3/6·8/60 = 21/120 = .175
			name:   "boundary",
			rows:   []int{0, 1, 2, 3, 4, 5},
			labels: []int{0, 1, 0, 1, 0, 0},
			bins:   []Bin{{0, 0.5, 3, 0.45, 2.0 / 3}, {0.5, 1, 3, 0.8, 2.0 / 3}},
			ece:    0.175, mce: 13.0 / 60, acc: 4.0 / 6,
		},
		{
			// Ties go to class 0; label 0 makes it correct. Bin 1 empty.
			// ECE = |1 − .25| = .75
			name:   "tie",
			rows:   []int{6},
			labels: []int{0},
			bins:   []Bin{{0, 0.5, 1, 0.25, 1}, {0.5, 1, 0, 0, 0}},
			ece:    0.75, mce: 0.75, acc: 1,
		},
	} {
		var probs [][]float64
		for _, r := range test.rows {
			probs = append(probs, base[r])
		}
		m, err := Compute(probs, test.labels, 2)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if len(m.Bins) != len(test.bins) {
			t.Fatalf("%s: %d bins, want %d", test.name, len(m.Bins), len(test.bins))
		}
		for i, b := range test.bins {
			got := m.Bins[i]
			if got.Count != b.Count || !testutil.Close(got.Lower, b.Lower, 1e-15, 0) || !testutil.Close(got.Upper, b.Upper, 1e-15, 0) ||
				!testutil.Close(got.Confidence, b.Confidence, 1e-12, 0) || !testutil.Close(got.Accuracy, b.Accuracy, 1e-12, 0) {
				t.Errorf("%s: bin %d = %+v, want %+v", test.name, i, got, b)
			}
		}
		if !testutil.Close(m.ECE, test.ece, 1e-12, 0) || !testutil.Close(m.MCE, test.mce, 1e-12, 0) || !testutil.Close(m.Accuracy, test.acc, 1e-12, 0) {
			t.Errorf("%s: ECE %v MCE %v accuracy %v, want %v %v %v", test.name, m.ECE, m.MCE, m.Accuracy, test.ece, test.mce, test.acc)
		}
	}
}

// TestBinIndex checks the (lo, hi] convention at the edges.
func TestBinIndex(t *testing.T) {
	for _, test := range []struct {
		c    float64
		bins int
		want int
	}{
		{0, 15, 0},
		{1e-300, 15, 0},
		{1.0 / 15, 15, 0},
		{math.Nextafter(1.0/15, 1), 15, 1},
		{2.0 / 15, 15, 1},
		{0.5, 2, 0},
		{math.Nextafter(0.5, 1), 2, 1},
		{1, 2, 1},
		{1, 15, 14},
		{0.3, 10, 2}, // 0.3·10 rounds to 3.0000000000000004 but 0.3 == 3.0/10
		{0.7, 10, 6},
		{0.1, 10, 0},
		{0.99, 1, 0},
	} {
		if got := binIndex(test.c, test.bins); got != test.want {
			t.Errorf("binIndex(%v, %d) = %d, want %d", test.c, test.bins, got, test.want)
		}
	}
}

// TestComputeScores checks NLL, Brier and accuracy against hand values.
func TestComputeScores(t *testing.T) {
	for _, test := range []struct {
		name     string
		probs    [][]float64
		labels   []int
		nll      float64
		brier    float64
		acc      float64
		perClass []ClassStat
	}{
		{
			// Brier rows: .09+.04+.01 = .14; .01+.36+.49 = .86;
			// .0625+.0625+.25 = .375; mean 1.375/3.
			name:   "three",
			probs:  [][]float64{{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3}, {0.25, 0.25, 0.5}},
			labels: []int{0, 2, 2},
			nll:    (-math.Log(0.7) - math.Log(0.3) - math.Log(0.5)) / 3,
			brier:  1.375 / 3,
			acc:    2.0 / 3,
			perClass: []ClassStat{
				{Class: 0, Count: 1, Correct: 1, Accuracy: 1},
				{Class: 1},
				{Class: 2, Count: 2, Correct: 1, Accuracy: 0.5},
			},
		},
		{
			// p[y] = 0 is floored at 1e-12: NLL = (−ln 1e-12 − ln .5)/2.
			// Brier: (1+1) and (.25+.25).
			name:   "floor",
			probs:  [][]float64{{1, 0}, {0.5, 0.5}},
			labels: []int{1, 0},
			nll:    (12*math.Ln10 + math.Ln2) / 2,
			brier:  2.5 / 2,
			acc:    0.5,
			perClass: []ClassStat{
				{Class: 0, Count: 1, Correct: 1, Accuracy: 1},
				{Class: 1, Count: 1, Correct: 0, Accuracy: 0},
			},
		},
	} {
		m, err := Compute(test.probs, test.labels, 0)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if !testutil.Close(m.NLL, test.nll, 1e-12, 0) || !testutil.Close(m.Brier, test.brier, 1e-12, 0) || !testutil.Close(m.Accuracy, test.acc, 1e-12, 0) {
			t.Errorf("%s: NLL %v Brier %v accuracy %v, want %v %v %v", test.name, m.NLL, m.Brier, m.Accuracy, test.nll, test.brier, test.acc)
		}
		if len(m.Bins) != DefaultBins {
			t.Errorf("%s: %d bins, want default %d", test.name, len(m.Bins), DefaultBins)
		}
		if len(m.PerClass) != len(test.perClass) {
			t.Fatalf("%s: %d classes, want %d", test.name, len(m.PerClass), len(test.perClass))
		}
		for k, want := range test.perClass {
			if got := m.PerClass[k]; got.Class != want.Class || got.Count != want.Count || got.Correct != want.Correct || !testutil.Close(got.Accuracy, want.Accuracy, 1e-12, 0) {
				t.Errorf("%s: class %d = %+v, want %+v", test.name, k, got, want)
			}
		}
	}
}

// TestAdaptiveBins checks equal-mass bin boundaries worked out on paper.
func TestAdaptiveBins(t *testing.T) {
	for _, test := range []struct {
		name    string
		conf    []float64
		correct []bool
		bins    int
		want    []Bin
		aece    float64
	}{
		{
			// Sorted: .55w .6c .65w | .7c .75c .8w | .85c .9c .95c .99c
			// (n·b/B = 0, 3, 6, 10). Gaps 4/15, 1/12, .0775:
			// aECE = .3·4/15 + .3/12 + .4·.0775 = .08 + .025 + .031.
			name:    "ten",
			conf:    []float64{0.9, 0.55, 0.7, 0.95, 0.6, 0.8, 0.65, 0.99, 0.75, 0.85},
			correct: []bool{true, false, true, true, true, false, false, true, true, true},
			bins:    3,
			want: []Bin{
				{Lower: 0.55, Upper: 0.65, Count: 3, Confidence: 0.6, Accuracy: 1.0 / 3},
				{Lower: 0.7, Upper: 0.8, Count: 3, Confidence: 0.75, Accuracy: 2.0 / 3},
				{Lower: 0.85, Upper: 0.99, Count: 4, Confidence: 0.9225, Accuracy: 1},
			},
			aece: 0.136,
		},
		{
			// n < B: positions 0, 0, 1, 2 leave the first bin empty.
			name:    "fewer",
			conf:    []float64{0.8, 0.6},
			correct: []bool{false, true},
			bins:    3,
			want: []Bin{
				{Lower: 0.6, Upper: 0.6, Count: 1, Confidence: 0.6, Accuracy: 1},
				{Lower: 0.8, Upper: 0.8, Count: 1, Confidence: 0.8, Accuracy: 0},
			},
			aece: (0.4 + 0.8) / 2,
		},
		{
			// Equal confidences keep input order: 3 | 3 | 3 (6/3 = 2 each).
			name:    "ties",
			conf:    []float64{0.7, 0.7, 0.7, 0.7, 0.7, 0.7},
			correct: []bool{true, true, false, false, true, false},
			bins:    3,
			want: []Bin{
				{Lower: 0.7, Upper: 0.7, Count: 2, Confidence: 0.7, Accuracy: 1},
				{Lower: 0.7, Upper: 0.7, Count: 2, Confidence: 0.7, Accuracy: 0},
				{Lower: 0.7, Upper: 0.7, Count: 2, Confidence: 0.7, Accuracy: 0.5},
			},
			aece: (0.3 + 0.7 + 0.2) / 3,
		},
	} {
		probs, labels := binary(test.conf, test.correct)
		m, err := Compute(probs, labels, test.bins)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if len(m.AdaptiveBins) != len(test.want) {
			t.Fatalf("%s: %d adaptive bins, want %d: %+v", test.name, len(m.AdaptiveBins), len(test.want), m.AdaptiveBins)
		}
		for i, w := range test.want {
			g := m.AdaptiveBins[i]
			if g.Count != w.Count || !testutil.Close(g.Lower, w.Lower, 1e-15, 0) || !testutil.Close(g.Upper, w.Upper, 1e-15, 0) ||
				!testutil.Close(g.Confidence, w.Confidence, 1e-12, 0) || !testutil.Close(g.Accuracy, w.Accuracy, 1e-12, 0) {
				t.Errorf("%s: adaptive bin %d = %+v, want %+v", test.name, i, g, w)
			}
		}
		if !testutil.Close(m.AdaptiveECE, test.aece, 1e-12, 0) {
			t.Errorf("%s: adaptive ECE %v, want %v", test.name, m.AdaptiveECE, test.aece)
		}
	}
}

// TestCalibratedSynthetic draws a confidence c ∈ [.5, 1) and makes the
// prediction correct with probability c+shift. With shift 0 the model is
// calibrated and the expected ECE is only sampling noise: with n = 200000
// and 8 occupied bins of about 25000 examples, each bin's accuracy has a
// standard deviation below sqrt(.25/25000) = .0032, so ECE < .01 holds with
// a wide margin. With shift ±.1 every bin is off by .1.
func TestCalibratedSynthetic(t *testing.T) {
	const n = 200000
	for _, test := range []struct {
		name           string
		lo, hi, shift  float64
		wantLo, wantHi float64
	}{
		{"calibrated", 0.5, 1, 0, 0, 0.01},
		{"overconfident", 0.6, 1, -0.1, 0.09, 0.11},
		{"underconfident", 0.5, 0.9, 0.1, 0.09, 0.11},
	} {
		r := rand.New(rand.NewPCG(7, 11))
		conf := make([]float64, n)
		correct := make([]bool, n)
		for i := range conf {
			conf[i] = test.lo + (test.hi-test.lo)*r.Float64()
			if conf[i] < 0.5 {
				conf[i] = 0.5
			}
			correct[i] = r.Float64() < conf[i]+test.shift
		}
		probs, labels := binary(conf, correct)
		m, err := Compute(probs, labels, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: ECE %.4f, adaptive ECE %.4f, MCE %.4f", test.name, m.ECE, m.AdaptiveECE, m.MCE)
		for _, v := range []struct {
			what string
			x    float64
		}{{"ECE", m.ECE}, {"adaptive ECE", m.AdaptiveECE}} {
			if v.x < test.wantLo || v.x > test.wantHi {
				t.Errorf("%s: %s = %.4f, want in [%g, %g]", test.name, v.what, v.x, test.wantLo, test.wantHi)
			}
		}
	}
}

func TestComputeErrors(t *testing.T) {
	ok := [][]float64{{0.5, 0.5}, {0.9, 0.1}}
	for _, test := range []struct {
		name     string
		probs    [][]float64
		labels   []int
		bins     int
		notProbs bool // error wraps ErrNotProbabilities
		contains string
	}{
		{name: "empty", probs: nil, labels: nil, contains: "no examples"},
		{name: "labels", probs: ok, labels: []int{0}, contains: "2 probability rows but 1 labels"},
		{name: "ragged", probs: [][]float64{{0.5, 0.5}, {1}}, labels: []int{0, 0}, contains: "row 1 has 1 classes"},
		{name: "one class", probs: [][]float64{{1}}, labels: []int{0}, contains: "need at least 2"},
		{name: "nan", probs: [][]float64{{0.5, 0.5}, {math.NaN(), 1}}, labels: []int{0, 0}, contains: "row 1 class 0"},
		{name: "inf", probs: [][]float64{{math.Inf(1), 0.5}}, labels: []int{0}, contains: "not finite"},
		{name: "label negative", probs: ok, labels: []int{0, -1}, contains: "label -1 out of range"},
		{name: "label too big", probs: ok, labels: []int{2, 0}, contains: "label 2 out of range"},
		{name: "negative", probs: [][]float64{{1.2, -0.2}}, labels: []int{0}, notProbs: true, contains: "row 0 class 1 is negative"},
		{name: "sum", probs: [][]float64{{0.5, 0.5}, {0.6, 0.5}}, labels: []int{0, 0}, notProbs: true, contains: "row 1 sums to 1.1"},
		{name: "logits", probs: [][]float64{{2.3, 0.5, 1}}, labels: []int{0}, notProbs: true, contains: "logits"},
		{name: "bins", probs: ok, labels: []int{0, 0}, bins: -1, contains: "bin count -1"},
	} {
		_, err := Compute(test.probs, test.labels, test.bins)
		if err == nil {
			t.Errorf("%s: no error", test.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "calib: ") || !strings.Contains(err.Error(), test.contains) {
			t.Errorf("%s: error %q, want it to contain %q", test.name, err, test.contains)
		}
		if got := errors.Is(err, ErrNotProbabilities); got != test.notProbs {
			t.Errorf("%s: errors.Is(err, ErrNotProbabilities) = %v, want %v", test.name, got, test.notProbs)
		}
	}
	// Within the tolerance of 1e-3 a row is accepted.
	if _, err := Compute([][]float64{{0.6, 0.4009}}, []int{0}, 0); err != nil {
		t.Errorf("row summing to 1.0009: %v", err)
	}
}

// golden is testdata/golden_metrics.json, written by gen_golden.py.
type golden struct {
	Bins           int         `json:"bins"`
	Logits         [][]float64 `json:"logits"`
	Labels         []int       `json:"labels"`
	Probs          [][]float64 `json:"probs"`
	Accuracy       float64     `json:"accuracy"`
	MeanConfidence float64     `json:"mean_confidence"`
	NLL            float64     `json:"nll"`
	Brier          float64     `json:"brier"`
	ECE            float64     `json:"ece"`
	MCE            float64     `json:"mce"`
	AdaptiveECE    float64     `json:"adaptive_ece"`
	BinCount       []int       `json:"bin_count"`
	BinConf        []float64   `json:"bin_conf"`
	BinAcc         []float64   `json:"bin_acc"`
	AdLower        []float64   `json:"adaptive_lower"`
	AdUpper        []float64   `json:"adaptive_upper"`
	AdCount        []int       `json:"adaptive_count"`
	AdConf         []float64   `json:"adaptive_conf"`
	AdAcc          []float64   `json:"adaptive_acc"`
	ClassCount     []int       `json:"per_class_count"`
	ClassAcc       []float64   `json:"per_class_acc"`
	Temperature    float64     `json:"temperature"`
	TemperatureNLL float64     `json:"temperature_nll"`
	GridStep       float64     `json:"temperature_grid_step"`
}

func readGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGoldenNumpy compares Softmax, Compute and FitTemperature with the
// numpy reference of testdata/gen_golden.py on 303 random examples.
func TestGoldenNumpy(t *testing.T) {
	g := readGolden(t)
	probs, err := Softmax(g.Logits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range probs {
		for k := range probs[i] {
			if !testutil.Close(probs[i][k], g.Probs[i][k], 1e-12, 0) {
				t.Fatalf("softmax[%d][%d] = %v, numpy %v", i, k, probs[i][k], g.Probs[i][k])
			}
		}
	}
	m, err := Compute(g.Probs, g.Labels, g.Bins)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name      string
		got, want float64
	}{
		{"accuracy", m.Accuracy, g.Accuracy},
		{"mean confidence", m.MeanConfidence, g.MeanConfidence},
		{"NLL", m.NLL, g.NLL},
		{"Brier", m.Brier, g.Brier},
		{"ECE", m.ECE, g.ECE},
		{"MCE", m.MCE, g.MCE},
		{"adaptive ECE", m.AdaptiveECE, g.AdaptiveECE},
	} {
		if !testutil.Close(v.got, v.want, 1e-12, 0) {
			t.Errorf("%s = %v, numpy %v", v.name, v.got, v.want)
		}
	}
	if len(m.Bins) != g.Bins || len(m.AdaptiveBins) != g.Bins {
		t.Fatalf("%d bins and %d adaptive bins, want %d", len(m.Bins), len(m.AdaptiveBins), g.Bins)
	}
	for b := range g.Bins {
		got := m.Bins[b]
		if got.Count != g.BinCount[b] || !testutil.Close(got.Confidence, g.BinConf[b], 1e-12, 0) || !testutil.Close(got.Accuracy, g.BinAcc[b], 1e-12, 0) {
			t.Errorf("bin %d = %+v, numpy count %d conf %v acc %v", b, got, g.BinCount[b], g.BinConf[b], g.BinAcc[b])
		}
		ad := m.AdaptiveBins[b]
		if ad.Count != g.AdCount[b] || ad.Lower != g.AdLower[b] || ad.Upper != g.AdUpper[b] ||
			!testutil.Close(ad.Confidence, g.AdConf[b], 1e-12, 0) || !testutil.Close(ad.Accuracy, g.AdAcc[b], 1e-12, 0) {
			t.Errorf("adaptive bin %d = %+v, numpy [%v, %v] count %d conf %v acc %v", b, ad, g.AdLower[b], g.AdUpper[b], g.AdCount[b], g.AdConf[b], g.AdAcc[b])
		}
	}
	for k, c := range m.PerClass {
		if c.Count != g.ClassCount[k] || !testutil.Close(c.Accuracy, g.ClassAcc[k], 1e-12, 0) {
			t.Errorf("class %d = %+v, numpy count %d acc %v", k, c, g.ClassCount[k], g.ClassAcc[k])
		}
	}

	temp, err := FitTemperature(g.Logits, g.Labels)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(math.Log(temp / g.Temperature)); d > 2*g.GridStep {
		t.Errorf("temperature %v, numpy grid %v (|Δ ln T| = %g > 2 grid steps)", temp, g.Temperature, d)
	}
	if nll := temperatureNLL(g.Logits, g.Labels, 1/temp); nll > g.TemperatureNLL+1e-12 {
		t.Errorf("NLL at fitted T = %v, numpy grid optimum %v", nll, g.TemperatureNLL)
	}
}

func TestSoftmax(t *testing.T) {
	for _, test := range []struct {
		name   string
		logits [][]float64
		want   [][]float64
	}{
		{"ratios", [][]float64{{0, math.Ln2, math.Log(3)}}, [][]float64{{1.0 / 6, 2.0 / 6, 3.0 / 6}}},
		// -1000 + ln 3 is rounded to the ulp of 1000 (1e-13).
		{"shift", [][]float64{{1000, 1000}, {-1000, -1000 + math.Log(3)}}, [][]float64{{0.5, 0.5}, {0.25, 0.75}}},
		{"underflow", [][]float64{{0, 800}}, [][]float64{{0, 1}}},
	} {
		got, err := Softmax(test.logits)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		for i := range test.want {
			for k := range test.want[i] {
				if !testutil.Close(got[i][k], test.want[i][k], 1e-12, 0) {
					t.Errorf("%s: [%d][%d] = %v, want %v", test.name, i, k, got[i][k], test.want[i][k])
				}
			}
		}
	}
	for _, bad := range [][][]float64{nil, {{1, math.NaN()}}, {{1, 2}, {3}}} {
		if _, err := Softmax(bad); err == nil {
			t.Errorf("Softmax(%v): no error", bad)
		}
	}
}

// logitsFromTemperature draws logits z ~ N(0, scale²) and labels from
// softmax(z/temp), so that temp is the maximum-likelihood temperature in the
// limit of many examples.
func logitsFromTemperature(r *rand.Rand, n, k int, scale, temp float64) ([][]float64, []int) {
	logits := make([][]float64, n)
	labels := make([]int, n)
	for i := range logits {
		z := make([]float64, k)
		for j := range z {
			z[j] = scale * r.NormFloat64()
		}
		logits[i] = z
		p := probs.Softmax(nil, scaleRow(z, 1/temp))
		u, c := r.Float64(), 0.0
		labels[i] = k - 1
		for j, pj := range p {
			if c += pj; u < c {
				labels[i] = j
				break
			}
		}
	}
	return logits, labels
}

func scaleRow(z []float64, s float64) []float64 {
	out := make([]float64, len(z))
	for j, v := range z {
		out[j] = v * s
	}
	return out
}

// TestFitTemperatureRecovers fits T on 20000 examples whose labels were
// drawn from softmax(z/T₀); the estimate must be within 5% of T₀.
func TestFitTemperatureRecovers(t *testing.T) {
	for _, test := range []struct {
		t0    float64
		scale float64
	}{
		{0.5, 1},
		{1, 2},
		{2.5, 4},
	} {
		r := rand.New(rand.NewPCG(3, uint64(test.t0*100)))
		logits, labels := logitsFromTemperature(r, 20000, 10, test.scale, test.t0)
		got, err := FitTemperature(logits, labels)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("T₀ = %v: fitted %.4f", test.t0, got)
		if math.Abs(got-test.t0)/test.t0 > 0.05 {
			t.Errorf("T₀ = %v: fitted %v", test.t0, got)
		}
	}
}

// TestFitTemperatureGrid compares the golden-section result with a dense
// grid search on ln T whose NLL is computed through Softmax.
func TestFitTemperatureGrid(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	logits, labels := logitsFromTemperature(r, 500, 4, 3, 1.8)
	nll := func(temp float64) float64 {
		scaled := make([][]float64, len(logits))
		for i, z := range logits {
			scaled[i] = scaleRow(z, 1/temp)
		}
		p, err := Softmax(scaled)
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, row := range p {
			s -= math.Log(row[labels[i]])
		}
		return s / float64(len(p))
	}
	const points = 4001
	lo, hi := math.Log(MinTemperature), math.Log(MaxTemperature)
	step := (hi - lo) / (points - 1)
	bestU, bestF := lo, math.Inf(1)
	for i := range points {
		u := lo + float64(i)*step
		if f := nll(math.Exp(u)); f < bestF {
			bestU, bestF = u, f
		}
	}
	got, err := FitTemperature(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(math.Log(got) - bestU); d > step {
		t.Errorf("fitted T %v, grid T %v: |Δ ln T| = %g > grid step %g", got, math.Exp(bestU), d, step)
	}
	if f := nll(got); f > bestF+1e-12 {
		t.Errorf("NLL at fitted T %v = %v, grid best %v", got, f, bestF)
	}
}

func TestFitTemperatureEdges(t *testing.T) {
	for _, test := range []struct {
		name   string
		logits [][]float64
		labels []int
		want   float64
	}{
		// All correct and separable: the NLL falls as T → 0.
		{"separable", [][]float64{{5, 0}, {0, 5}}, []int{0, 1}, MinTemperature},
		// All wrong: the NLL falls as T → ∞.
		{"wrong", [][]float64{{5, 0}, {0, 5}}, []int{1, 0}, MaxTemperature},
		// p = softmax(z/T) with z = (ln 3, 0) and one label of each class:
		// NLL minimal where p = (1/2, 1/2), i.e. T → ∞ as well.
		{"balanced", [][]float64{{math.Log(3), 0}, {math.Log(3), 0}}, []int{0, 1}, MaxTemperature},
		// Label 0 three times in four with z = (ln 3, 0): the optimum is
		// p₀ = 3/4, i.e. exactly T = 1.
		{"exact", [][]float64{{math.Log(3), 0}, {math.Log(3), 0}, {math.Log(3), 0}, {math.Log(3), 0}}, []int{0, 0, 0, 1}, 1},
	} {
		got, err := FitTemperature(test.logits, test.labels)
		if err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if !testutil.Close(got, test.want, 1e-6, 0) {
			t.Errorf("%s: T = %v, want %v", test.name, got, test.want)
		}
	}
	if _, err := FitTemperature([][]float64{{1, 2}}, []int{3}); err == nil {
		t.Error("label out of range: no error")
	}
	if _, err := FitTemperature(nil, nil); err == nil {
		t.Error("empty: no error")
	}
}

// TestFitTemperatureSoft: the cross-entropy against targets softmax(z/T₀) is smallest at T = T₀
// exactly (Gibbs' inequality), so the fit recovers T₀ to the search's precision; mismatched
// shapes are refused.
func TestFitTemperatureSoft(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 2))
	for _, t0 := range []float64{0.3, 1, 3.7} {
		logits := make([][]float64, 300)
		targets := make([][]float64, len(logits))
		for i := range logits {
			logits[i] = make([]float64, 5)
			for j := range logits[i] {
				logits[i][j] = 3 * r.NormFloat64()
			}
			p, err := Softmax([][]float64{scaleRow(logits[i], 1/t0)})
			if err != nil {
				t.Fatal(err)
			}
			targets[i] = p[0]
		}
		got, err := FitTemperatureSoft(logits, targets)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-t0)/t0 > 1e-6 {
			t.Errorf("T₀ = %v: fitted %v", t0, got)
		}
	}
	if _, err := FitTemperatureSoft([][]float64{{1, 2}}, [][]float64{{0.5, 0.3, 0.2}}); err == nil {
		t.Error("a target row of another width was accepted")
	}
}
