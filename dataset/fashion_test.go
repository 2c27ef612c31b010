package dataset

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
	"time"
)

// fashionDir holds the real Fashion-MNIST files on machines that have them.
const fashionDir = "/usr/share/datasets/fashion-mnist"

// fashionRef is what gen.py computed from the real files with numpy (testdata/fashion.json).
type fashionRef struct {
	N             int     `json:"n"`
	FirstLabels   []int   `json:"first_labels"`
	LastLabel     int     `json:"last_label"`
	LabelCounts   []int   `json:"label_counts"`
	Mean          float64 `json:"mean"`
	FirstImageSum float64 `json:"first_image_sum"`
	LastImageSum  float64 `json:"last_image_sum"`
	Pixel01414    float64 `json:"pixel_0_14_14"`
}

func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(fashionDir); err != nil {
		t.Skipf("Fashion-MNIST not found at %s; skipping the test on real data", fashionDir)
	}
	b, err := os.ReadFile("testdata/fashion.json")
	if err != nil {
		t.Fatal(err)
	}
	var refs map[string]fashionRef
	if err := json.Unmarshal(b, &refs); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "t10k"} {
		ref := refs[split]
		path := fashionDir + "/" + split + "-images-idx3-ubyte.gz"
		start := time.Now()
		s, err := Load(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d examples loaded in %v", split, s.Len(), time.Since(start))
		if s.Len() != ref.N || s.Classes != 10 || !slices.Equal(s.Shape, []int{1, 28, 28}) || len(s.X) != ref.N*784 {
			t.Fatalf("%s: %d examples of %v, %d classes, %d values; want %d of [1 28 28], 10 classes", split, s.Len(), s.Shape, s.Classes, len(s.X), ref.N)
		}
		if !slices.Equal(s.Y[:10], ref.FirstLabels) || s.Y[s.Len()-1] != ref.LastLabel {
			t.Errorf("%s: labels %v … %d, want %v … %d", split, s.Y[:10], s.Y[s.Len()-1], ref.FirstLabels, ref.LastLabel)
		}
		counts := make([]int, 10)
		for _, y := range s.Y {
			counts[y]++
		}
		if !slices.Equal(counts, ref.LabelCounts) {
			t.Errorf("%s: label counts %v, want %v", split, counts, ref.LabelCounts)
		}
		sum := func(x []float32) (s float64) {
			for _, v := range x {
				s += float64(v)
			}
			return s
		}
		first, _ := s.Example(0)
		last, _ := s.Example(s.Len() - 1)
		for _, c := range []struct {
			what      string
			got, want float64
		}{
			{"mean", sum(s.X) / float64(len(s.X)), ref.Mean},
			{"first image sum", sum(first), ref.FirstImageSum},
			{"last image sum", sum(last), ref.LastImageSum},
			{"pixel (0, 14, 14)", float64(first[14*28+14]), ref.Pixel01414},
		} {
			if math.Abs(c.got-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
				t.Errorf("%s: %s = %v, want %v", split, c.what, c.got, c.want)
			}
		}
	}

	// The test file as flat vectors, as an MLP takes them, from example 100 on.
	s, err := Load(fashionDir+"/t10k-images-idx3-ubyte.gz", Options{Shape: []int{784}, Offset: 100, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 50 || s.Dim() != 784 || s.Classes != 10 {
		t.Errorf("t10k [100, 150) as [784]: %d examples of %d values, %d classes", s.Len(), s.Dim(), s.Classes)
	}
}

func BenchmarkLoadFashionTrain(b *testing.B) {
	path := fashionDir + "/train-images-idx3-ubyte.gz"
	if _, err := os.Stat(path); err != nil {
		b.Skipf("Fashion-MNIST not found at %s", fashionDir)
	}
	for b.Loop() {
		if _, err := Load(path, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
