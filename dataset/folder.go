package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the decoders image.Decode uses
	_ "image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
	r := &raw{shape: slices.Clone(opt.Shape), xName: root, yName: root, classes: len(names), names: names}
	var files []imageFile
	for label, name := range names {
		entries, err := os.ReadDir(filepath.Join(root, name))
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		for _, f := range entries {
			if !f.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(f.Name()))) {
				files = append(files, imageFile{filepath.Join(root, name, f.Name()), label})
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dataset: %s: no .png, .jpg or .jpeg files in the class folders %s", root, strings.Join(names, ", "))
	}
	// Decoded on up to maxFolderWorkers cores (the start-up of a training run on a large folder is
	// mostly this), each image into its own slot: the result and its order are those of a
	// sequential read.
	d := 1
	for _, n := range opt.Shape {
		d *= n
	}
	r.x, r.y = make([]float32, len(files)*d), make([]int, len(files))
	errs := make([]error, len(files))
	var next, failed atomic.Int64
	failed.Store(int64(len(files)))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), maxFolderWorkers, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch *image.RGBA64
			for i := int(next.Add(1) - 1); i < len(files) && int64(i) < failed.Load(); i = int(next.Add(1) - 1) {
				r.y[i] = files[i].label
				if errs[i] = readImage(r.x[i*d:(i+1)*d], files[i].path, opt, &scratch); errs[i] != nil {
					lower(&failed, int64(i)) // the images after it are skipped, those before it read
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f < int64(len(files)) {
		return nil, errs[f]
	}
	return r, nil
}

// maxFolderWorkers bounds the images decoded at once: a decoded image may take up to
// 8 × MaxImagePixels bytes (256 MiB), so a folder of huge images stays within about 1 GiB.
const maxFolderWorkers = 4

// lower sets a to v if v is smaller.
func lower(a *atomic.Int64, v int64) {
	for f := a.Load(); v < f; f = a.Load() {
		if a.CompareAndSwap(f, v) {
			return
		}
	}
}

// imageFile is one image of an image folder and its class.
type imageFile struct {
	path  string
	label int
}

// readImage decodes the image at path into slot (exactly opt.Shape's size): through
// opt.Preprocess, or scaled to [C H W] in *scratch (allocated on first use, reused after).
func readImage(slot []float32, path string, opt Options, scratch **image.RGBA64) error {
	img, err := DecodeImage(path)
	if err != nil {
		return err
	}
	var out []float32
	if opt.Preprocess != nil {
		if out, err = opt.Preprocess.Image(slot[:0], img, opt.Shape); err != nil {
			return fmt.Errorf("dataset: %s: %w", path, err)
		}
	} else {
		c, h, w := opt.Shape[0], opt.Shape[1], opt.Shape[2]
		if *scratch == nil {
			*scratch = image.NewRGBA64(image.Rect(0, 0, w, h))
		}
		dst := *scratch
		img = preprocess.Opaque(img)
		if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
			draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
		} else {
			draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
		}
		out = appendPixels(slot[:0], dst, c)
	}
	if len(out) != len(slot) {
		return fmt.Errorf("dataset: %s: %d values for shape %v", path, len(out), opt.Shape)
	}
	if len(out) > 0 && &out[0] != &slot[0] { // the converter allocated: keep its values in the slot
		copy(slot, out)
	}
	return nil
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
