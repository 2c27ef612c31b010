package calib

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testMetrics returns metrics of a small over-confident model.
func testMetrics(t *testing.T) *Metrics {
	t.Helper()
	var conf []float64
	var correct []bool
	for i := range 200 {
		c := 0.5 + 0.5*float64(i)/200
		conf = append(conf, c)
		correct = append(correct, i%10 < int(10*c)-2)
	}
	probs, labels := binary(conf, correct)
	m, err := Compute(probs, labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testTrajectory() Trajectory {
	var tr Trajectory
	for s := 0; s <= 100; s += 10 {
		tr = append(tr, TrajectoryPoint{Step: s, Sigma: map[string]float64{
			"/bn1:noise": 0.1 + 0.001*float64(s),
			"/bn2:noise": 0.1 - 0.0005*float64(s),
		}})
	}
	return tr
}

// checkPNG decodes b and checks its size, that it is not blank and that it
// contains at least minPixels pixels of each colour in colours.
func checkPNG(t *testing.T, name string, b []byte, w, h int, colours map[string]color.RGBA, minPixels int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: decode png: %v", name, err)
	}
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Errorf("%s: size %v, want %dx%d", name, got, w, h)
	}
	nonWhite := 0
	found := map[string]int{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c != (color.RGBA{255, 255, 255, 255}) {
				nonWhite++
			}
			for k, want := range colours {
				if c == want {
					found[k]++
				}
			}
		}
	}
	if total := w * h; nonWhite < total/50 {
		t.Errorf("%s: only %d of %d pixels are not white", name, nonWhite, total)
	}
	for k := range colours {
		if found[k] < minPixels {
			t.Errorf("%s: %d pixels of the %s colour, want ≥ %d", name, found[k], k, minPixels)
		}
	}
}

// checkSVG checks that b is well-formed XML with an <svg> root of the given
// size in points.
func checkSVG(t *testing.T, name string, b []byte, wPt, hPt int) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: svg is not well-formed: %v", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			attrs := map[string]string{}
			for _, a := range se.Attr {
				attrs[a.Name.Local] = a.Value
			}
			if attrs["width"] != fmt.Sprintf("%dpt", wPt) || attrs["height"] != fmt.Sprintf("%dpt", hPt) {
				t.Errorf("%s: svg size %s×%s, want %dpt×%dpt", name, attrs["width"], attrs["height"], wPt, hPt)
			}
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", name, root)
	}
	checkGolden(t, name+".svg", b)
}

// regen rewrites the golden plots under testdata/plots from this run.
var regen = flag.Bool("regen", false, "rewrite the golden plots under testdata/plots from this run")

// checkGolden compares a rendered plot byte for byte with its golden file testdata/plots/name
// (gonum/plot renders deterministically). On a difference the new rendering is written beside the
// test's temporary files for a look; an intended change is recorded with -regen.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "plots", name)
	if *regen {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (record it with: go test ./calib -run Plot -regen)", err)
	}
	if !bytes.Equal(got, want) {
		fresh := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(fresh, got, 0o644)
		t.Errorf("%s differs from %s (%d vs %d bytes; this run's is %s): compare them, and if the change is intended "+
			"record it with: go test ./calib -run Plot -regen", name, path, len(got), len(want), fresh)
	}
}

func TestPlotReliability(t *testing.T) {
	m := testMetrics(t)
	var p, s bytes.Buffer
	if err := PlotReliability(&p, m, "test", "png"); err != nil {
		t.Fatal(err)
	}
	// Interior pixels of the accuracy bars, the confidence markers and the
	// count bars have exactly their fill colours.
	checkPNG(t, "reliability", p.Bytes(), 600, 700,
		map[string]color.RGBA{"bar": barColor, "marker": confColor, "count": countFill}, 50)
	if err := PlotReliability(&s, m, "test", "svg"); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, "reliability", s.Bytes(), 432, 504)
}

func TestPlotTrajectory(t *testing.T) {
	var p, s bytes.Buffer
	if err := PlotTrajectory(&p, testTrajectory(), "σ", "png"); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "trajectory", p.Bytes(), 900, 500, nil, 0)
	if err := PlotTrajectory(&s, testTrajectory(), "σ", "svg"); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, "trajectory", s.Bytes(), 648, 360)
}

func TestPlotErrors(t *testing.T) {
	m := testMetrics(t)
	for _, test := range []struct {
		name     string
		err      error
		contains string
	}{
		{"format", PlotReliability(io.Discard, m, "x", "gif"), `format "gif"`},
		{"nil metrics", PlotReliability(io.Discard, nil, "x", "png"), "no bins"},
		{"empty trajectory", PlotTrajectory(io.Discard, nil, "x", "png"), "empty trajectory"},
		{"trajectory format", PlotTrajectory(io.Discard, testTrajectory(), "x", "pdf"), `format "pdf"`},
	} {
		if test.err == nil || !strings.HasPrefix(test.err.Error(), "calib: ") || !strings.Contains(test.err.Error(), test.contains) {
			t.Errorf("%s: error %v, want one containing %q", test.name, test.err, test.contains)
		}
	}
}
