package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/image/draw"

	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// imageExts are the file name extensions of images in an image folder, compared in lower case.
var imageExts = []string{".png", ".jpg", ".jpeg"}

// loadFolder reads root/<class>/<image> files, resized to opt.Shape [C H W], or converted by
// opt.Preprocess to opt.Shape ([H W C] for its NHWC layout).
func loadFolder(root string, opt Options) (*raw, error) {
	if opt.Preprocess != nil {
		if err := opt.Preprocess.Check(opt.Shape); err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", root, err)
		}
	} else if len(opt.Shape) != 3 || (opt.Shape[0] != 1 && opt.Shape[0] != 3) {
		return nil, &OptionError{Path: root, Field: "Shape", Reason: fmt.Sprintf("an image folder needs a shape [C H W] with C = 1 or 3 (the model's input size), got %v", opt.Shape)}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var names []string // sorted, as ReadDir returns them
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("dataset: %s: no class sub-folders (want root/<class>/*.png|jpg|jpeg, or CIFAR-10 data_batch_*.bin files)", root)
	}
	c, h, w := opt.Shape[0], opt.Shape[1], opt.Shape[2]
	r := &raw{shape: slices.Clone(opt.Shape), xName: root, yName: root, classes: len(names), names: names}
	dst := image.NewRGBA64(image.Rect(0, 0, w, h))
	for label, name := range names {
		files, err := os.ReadDir(filepath.Join(root, name))
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		for _, f := range files {
			if f.IsDir() || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(f.Name()))) {
				continue
			}
			path := filepath.Join(root, name, f.Name())
			img, err := DecodeImage(path)
			if err != nil {
				return nil, err
			}
			if opt.Preprocess != nil {
				if r.x, err = opt.Preprocess.Image(r.x, img, opt.Shape); err != nil {
					return nil, fmt.Errorf("dataset: %s: %w", path, err)
				}
				r.y = append(r.y, label)
				continue
			}
			img = preprocess.Opaque(img)
			if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
				draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
			} else {
				draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
			}
			r.x = appendPixels(r.x, dst, c)
			r.y = append(r.y, label)
		}
	}
	if len(r.y) == 0 {
		return nil, fmt.Errorf("dataset: %s: no .png, .jpg or .jpeg files in the class folders %s", root, strings.Join(names, ", "))
	}
	return r, nil
}

// appendPixels appends the image's channels, C×H×W in [0, 1]: RGB for c = 3, BT.601 luma
// (Go's and Pillow's grey weights) for c = 1.
func appendPixels(x []float32, img *image.RGBA64, c int) []float32 {
	b := img.Bounds()
	hw := b.Dx() * b.Dy()
	start := len(x)
	x = slices.Grow(x, c*hw)[:start+c*hw]
	out := x[start:]
	for i := 0; i < hw; i++ {
		p := img.Pix[8*i : 8*i+6 : 8*i+6]
		r := float32(uint16(p[0])<<8 | uint16(p[1]))
		g := float32(uint16(p[2])<<8 | uint16(p[3]))
		bl := float32(uint16(p[4])<<8 | uint16(p[5]))
		if c == 3 {
			out[i], out[hw+i], out[2*hw+i] = r/0xffff, g/0xffff, bl/0xffff
		} else {
			out[i] = float32((19595*float64(r) + 38470*float64(g) + 7471*float64(bl)) / (65536 * 0xffff))
		}
	}
	return x
}
