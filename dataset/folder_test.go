package dataset

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// TestFolderManyImages reads a folder of solid-colour images on several goroutines: every example
// holds its own image's colour (8-bit v read as v/255) in folder order (classes sorted, files
// sorted), with and without a preprocessing spec, and a corrupt file is reported — the first in
// that order when there are two.
func TestFolderManyImages(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	root := t.TempDir()
	const classes, per, h, w = 3, 9, 2, 3
	type rgb struct{ r, g, b uint8 }
	var want []rgb
	var labels []int
	for c := range classes {
		dir := filepath.Join(root, fmt.Sprintf("class%d", c))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range per {
			k := c*per + i
			col := rgb{uint8(k), uint8(2 * k), uint8(255 - k)}
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					img.Set(x, y, color.RGBA{col.r, col.g, col.b, 255})
				}
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%02d.png", i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			f.Close()
			want, labels = append(want, col), append(labels, c)
		}
	}
	for _, c := range []struct {
		name string
		opt  Options
	}{
		{"scaled", Options{Shape: []int{3, h, w}}},
		{"preprocess", Options{Shape: []int{3, h, w}, Preprocess: &preprocess.Spec{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Load(root, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != classes*per {
				t.Fatalf("%d examples, want %d", s.Len(), classes*per)
			}
			for k, col := range want {
				x, y := s.Example(k)
				if y != labels[k] {
					t.Errorf("example %d: label %d, want %d", k, y, labels[k])
				}
				for ch, v := range []uint8{col.r, col.g, col.b} {
					for p := range h * w {
						if got, wantV := x[ch*h*w+p], float32(v)/255; got != wantV {
							t.Fatalf("example %d channel %d pixel %d: %v, want %v", k, ch, p, got, wantV)
						}
					}
				}
			}
		})
	}
	// Two corrupt files: the error names the first in folder order.
	for _, name := range []string{"class1/img04.png", "class2/img01.png"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("not a png"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(root, Options{Shape: []int{3, h, w}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join("class1", "img04.png")) {
		t.Fatalf("err = %v, want one naming class1/img04.png", err)
	}
}

// BenchmarkLoadFolder reads 64 random 256×256 JPEGs, 8 per class, scaled to 3×224×224 (the
// start-up of a fine-tune on an image folder): go test -run '^$' -bench LoadFolder -cpu 1,2 ./dataset
func BenchmarkLoadFolder(b *testing.B) {
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for c := range 8 {
		dir := filepath.Join(root, fmt.Sprintf("class%d", c))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 8 {
			for p := range img.Pix {
				img.Pix[p] = uint8(rng.IntN(256))
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.jpg", i)))
			if err != nil {
				b.Fatal(err)
			}
			if err := jpeg.Encode(f, img, nil); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Load(root, Options{Shape: []int{3, 224, 224}}); err != nil {
			b.Fatal(err)
		}
	}
}
