package calib

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testReport is a fixed report of two models on five hand-made examples.
func testReport(t *testing.T) *Report {
	t.Helper()
	labels := []int{0, 1, 2, 2, 1}
	original := [][]float64{{0.9, 0.05, 0.05}, {0.8, 0.15, 0.05}, {0.1, 0.2, 0.7}, {0.05, 0.9, 0.05}, {0.2, 0.7, 0.1}}
	tuned := [][]float64{{0.7, 0.2, 0.1}, {0.5, 0.4, 0.1}, {0.2, 0.2, 0.6}, {0.2, 0.5, 0.3}, {0.2, 0.6, 0.2}}
	var models []Model
	for _, m := range []struct {
		name  string
		probs [][]float64
	}{{"original", original}, {"fine-tuned", tuned}} {
		x, err := Compute(m.probs, labels, 5)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, Model{Name: m.name, Metrics: x})
	}
	tr, err := ReadTrajectory(filepath.Join("testdata", "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return &Report{
		Title:      "Calibration of toy.onnx",
		Models:     models,
		Provenance: map[string]string{"model": "toy.onnx", "data": "test split | 5 examples", "seed": "1"},
		Trajectory: tr,
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	r := testReport(t)
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"reliability-fine-tuned.png", "reliability-fine-tuned.svg", "reliability-original.png",
		"reliability-original.svg", "report.html", "report.json", "report.md", "sigma.png", "sigma.svg"}
	sort.Strings(names)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("files %q, want %q (no temporary files left)", names, want)
	}

	// report.md against the golden file.
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.md.golden")
	if *update {
		if err := os.WriteFile(golden, md, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantMD, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, wantMD) {
		t.Errorf("report.md differs from %s (rerun with -update after checking):\n%s", golden, md)
	}

	// report.json holds the whole report.
	js, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("report.json does not decode to the report written")
	}

	// report.html is self-contained: every image is a data URI holding an
	// SVG, and nothing is loaded from elsewhere.
	h, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http:", "https:", "<link", "<script", "@import", "url("} {
		if bytes.Contains(h, []byte(bad)) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	srcs := regexp.MustCompile(`src="([^"]*)"`).FindAllSubmatch(h, -1)
	if len(srcs) != 3 {
		t.Errorf("report.html has %d images, want 3", len(srcs))
	}
	for _, s := range srcs {
		const prefix = "data:image/svg+xml;base64,"
		src := html.UnescapeString(string(s[1]))
		if !strings.HasPrefix(src, prefix) {
			t.Errorf("image source %.40q is not an SVG data URI", src)
			continue
		}
		svg, err := base64.StdEncoding.DecodeString(src[len(prefix):])
		if err != nil {
			t.Errorf("image data: %v", err)
			continue
		}
		if !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("image data is not an SVG")
		}
	}
	for _, s := range []string{"fine-tuned", "0.6000", "test split | 5 examples", "/conv1/BatchNorm:noise"} {
		if !bytes.Contains(h, []byte(s)) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	for _, f := range []struct {
		name string
		w, h int
	}{{"reliability-original.png", 600, 700}, {"sigma.png", 900, 500}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, f.name, b, f.w, f.h, nil, 0)
	}

	// Writing again replaces the files in place.
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadDir(dir); len(again) != len(want) {
		t.Errorf("%d files after rewriting, want %d", len(again), len(want))
	}
}

func TestWriteReportNoTrajectory(t *testing.T) {
	dir := t.TempDir()
	r := testReport(t)
	r.Trajectory = nil
	r.Provenance = nil
	r.Models = r.Models[:1]
	r.Models[0].Name = "mc-4/avg"
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reliability-mc-4_avg.png", "reliability-mc-4_avg.svg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sigma.png")); err == nil {
		t.Error("sigma.png written without a trajectory")
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	if bytes.Contains(md, []byte("σ trajectory")) || bytes.Contains(md, []byte("Provenance")) {
		t.Errorf("report.md has empty sections:\n%s", md)
	}
}

func TestWriteReportErrors(t *testing.T) {
	m := testMetrics(t)
	for _, test := range []struct {
		name     string
		r        *Report
		contains string
	}{
		{"nil", nil, "no models"},
		{"empty", &Report{}, "no models"},
		{"no name", &Report{Models: []Model{{Metrics: m}}}, "model 0 has no name"},
		{"no metrics", &Report{Models: []Model{{Name: "a"}}}, `"a" has no metrics`},
		{"clash", &Report{Models: []Model{{Name: "a/b", Metrics: m}, {Name: "a_b", Metrics: m}}}, `share the file name "a_b"`},
	} {
		dir := t.TempDir()
		err := WriteReport(dir, test.r)
		if err == nil || !strings.HasPrefix(err.Error(), "calib: ") || !strings.Contains(err.Error(), test.contains) {
			t.Errorf("%s: error %v, want one containing %q", test.name, err, test.contains)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: %d files written despite the error", test.name, len(entries))
		}
	}
}

func TestFileName(t *testing.T) {
	for _, test := range []struct{ in, want string }{
		{"fine-tuned", "fine-tuned"},
		{"mc-4", "mc-4"},
		{"T=1.5 (val)", "T_1.5__val_"},
		{"σ/x", "__x"},
	} {
		if got := FileName(test.in); got != test.want {
			t.Errorf("FileName(%q) = %q, want %q", test.in, got, test.want)
		}
	}
}
