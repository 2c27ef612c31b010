package predict

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

func arange(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return x
}

// The fixtures come from testdata/gen.py (NumPy, Pillow, torchvision).
func TestLoadNPY(t *testing.T) {
	for _, test := range []struct {
		file  string
		data  []float32
		shape []int64
		err   string
	}{
		{file: "x_f32.npy", data: []float32{1, 2, 3, -1}, shape: []int64{2, 2}},
		{file: "x_f64.npy", data: []float32{1, 2, 3, -1}, shape: []int64{2, 2}},
		{file: "one_f32.npy", data: []float32{3, -1}, shape: []int64{2}},
		{file: "fortran_f32.npy", data: arange(24), shape: []int64{2, 3, 4}},
		{file: "big_endian_f64.npy", data: arange(6), shape: []int64{2, 3}},
		{file: "x_i32.npy", err: "x_i32.npy: element type i4: want float32 or float64"},
		{file: "missing.npy", err: "dataset: open testdata/missing.npy"},
		{file: "rgb.png", err: "dataset: testdata/rgb.png: not a NumPy .npy file"},
	} {
		data, shape, err := LoadNPY(filepath.Join("testdata", test.file))
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) {
				t.Errorf("%s: error %v, want %q", test.file, err, test.err)
			}
			continue
		}
		if err != nil || !slices.Equal(data, test.data) || !slices.Equal(shape, test.shape) {
			t.Errorf("%s: got %v %v, %v; want %v %v", test.file, data, shape, err, test.data, test.shape)
		}
	}
}

func loadNPY(t *testing.T, file string) []float32 {
	t.Helper()
	d, _, err := LoadNPY(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writePNG(t *testing.T, img image.Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadImage(t *testing.T) {
	rgbCHW := loadNPY(t, "rgb_chw.npy") // torchvision to_tensor of rgb.png (3 wide, 2 high)
	grayHW := loadNPY(t, "gray_hw.npy") // Pillow's luma of rgb.png

	// Pillow's BILINEAR resizing of rgb.png and of the 4x1 gray ramp.png (0, 100, 200, 255). By
	// hand for the ramp: output pixel 0 is centred at source x = 1, the tent widened to radius 2
	// weighs the pixels centred at 0.5, 1.5, 2.5 by 3/4, 3/4, 1/4: (75 + 50) / 1.75 = 71.4.
	rgb2x2 := loadNPY(t, "rgb_2x2_chw.npy")
	rgb5x3 := loadNPY(t, "rgb_5x3_chw.npy")
	ramp2 := loadNPY(t, "ramp_2x1.npy")
	// A 2x2 image with a fully transparent red pixel (counts as black) and three opaque ones.
	quad := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	quad.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 0})
	quad.SetNRGBA(1, 0, color.NRGBA{255, 0, 0, 255})
	quad.SetNRGBA(0, 1, color.NRGBA{0, 255, 0, 255})
	quad.SetNRGBA(1, 1, color.NRGBA{0, 0, 255, 255})
	quadPNG := writePNG(t, quad)
	flat := []float32{200.0 / 255, 100.0 / 255, 50.0 / 255}

	for _, test := range []struct {
		name  string
		file  string
		shape []int64 // model input shape
		want  []float32
		dims  []int64
		tol   float64
		err   string
	}{
		{name: "rgb planes", file: "testdata/rgb.png", shape: []int64{-1, 3, 2, 3}, want: rgbCHW, dims: []int64{1, 3, 2, 3}, tol: 1e-7},
		{name: "rgb own size", file: "testdata/rgb.png", shape: []int64{-1, 3, -1, -1}, want: rgbCHW, dims: []int64{1, 3, 2, 3}, tol: 1e-7},
		{name: "gray NCHW", file: "testdata/rgb.png", shape: []int64{1, 1, 2, 3}, want: grayHW, dims: []int64{1, 1, 2, 3}, tol: 1.0/255 + 1e-6},
		{name: "gray NHW", file: "testdata/rgb.png", shape: []int64{-1, 2, 3}, want: grayHW, dims: []int64{1, 2, 3}, tol: 1.0/255 + 1e-6},
		{name: "ramp halved", file: "testdata/ramp.png", shape: []int64{-1, 1, 1, 2}, want: ramp2, dims: []int64{1, 1, 1, 2}, tol: 1.0/255 + 1e-6},
		{name: "downscale", file: "testdata/rgb.png", shape: []int64{-1, 3, 2, 2}, want: rgb2x2, dims: []int64{1, 3, 2, 2}, tol: 1.0/255 + 1e-6},
		{name: "upscale", file: "testdata/rgb.png", shape: []int64{-1, 3, 3, 5}, want: rgb5x3, dims: []int64{1, 3, 3, 5}, tol: 1.0/255 + 1e-6},
		{name: "transparent is black", file: quadPNG, shape: []int64{-1, 3, 2, 2},
			want: []float32{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, dims: []int64{1, 3, 2, 2}},
		{name: "flat gray", file: quadPNG, shape: []int64{-1, 4}, want: []float32{0, 0.299, 0.587, 0.114}, dims: []int64{1, 4}, tol: 1.0 / 255},
		{name: "flat rgb", file: quadPNG, shape: []int64{-1, 12}, want: []float32{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, dims: []int64{1, 12}},
		{name: "jpeg", file: "testdata/flat.jpg", shape: []int64{-1, 3, 4, 4},
			want: slices.Concat(slices.Repeat(flat[:1], 16), slices.Repeat(flat[1:2], 16), slices.Repeat(flat[2:], 16)), dims: []int64{1, 3, 4, 4}, tol: 3.0 / 255},
		{name: "two channels", file: quadPNG, shape: []int64{-1, 2, 2, 2}, err: "want 1 or 3 channels in [N C H W], got 2"},
		{name: "flat not square", file: quadPNG, shape: []int64{-1, 7}, err: "7 is neither S*S (gray) nor 3*S*S (RGB)"},
		{name: "rank 5", file: quadPNG, shape: []int64{-1, 1, 1, 2, 2}, err: "want [N C H W], [N H W] or [N L]"},
		{name: "not an image", file: "testdata/x_f32.npy", shape: []int64{-1, 4}, err: "dataset: testdata/x_f32.npy: image: unknown format"},
	} {
		data, dims, err := LoadImage(test.file, ort.Info{Name: "x", Type: "float32", Shape: test.shape}, nil)
		if test.err != "" {
			if err == nil || !strings.Contains(err.Error(), test.err) {
				t.Errorf("%s: error %v, want %q", test.name, err, test.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", test.name, err)
			continue
		}
		if !slices.Equal(dims, test.dims) || testutil.Compare(data, test.want, test.tol, 0).Bad != 0 {
			t.Errorf("%s: got %v %v\nwant %v %v", test.name, dims, data, test.dims, test.want)
		}
	}
}
