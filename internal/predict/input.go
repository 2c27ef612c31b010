package predict

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"math"

	"golang.org/x/image/draw"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// LoadNPY reads a float32 or float64 NumPy array (C or Fortran order) as row-major float32 data,
// through dataset.LoadArray: a malformed file is an error naming it, never a panic.
func LoadNPY(path string) (data []float32, shape []int64, err error) {
	data, dims, err := dataset.LoadArray(path)
	if err != nil {
		return nil, nil, err
	}
	shape = make([]int64, len(dims))
	for i, d := range dims {
		shape[i] = int64(d)
	}
	return data, shape, nil
}

// imageLayout is how an image maps to one example of the model input.
type imageLayout struct {
	channels int64 // 1 (gray) or 3 (RGB)
	height   int64 // -1: the image's own
	width    int64 // -1: the image's own
	flat     bool  // [N, L] input: the example is a flat vector
}

func layoutFor(in ort.Info) (imageLayout, error) {
	s := in.Shape
	bad := func(why string) (imageLayout, error) {
		return imageLayout{}, fmt.Errorf("predict: model input %s: cannot take an image: %s", in, why)
	}
	switch len(s) {
	case 4: // N, C, H, W
		c := s[1]
		if c == -1 {
			c = 3
		}
		if c != 1 && c != 3 {
			return bad(fmt.Sprintf("want 1 or 3 channels in [N C H W], got %d", c))
		}
		return imageLayout{channels: c, height: s[2], width: s[3]}, nil
	case 3: // N, H, W
		return imageLayout{channels: 1, height: s[1], width: s[2]}, nil
	case 2: // N, L
		l := s[1]
		if l < 0 {
			return bad("the flattened size is dynamic")
		}
		if side := isqrt(l); side*side == l {
			return imageLayout{channels: 1, height: side, width: side, flat: true}, nil
		}
		if side := isqrt(l / 3); l%3 == 0 && 3*side*side == l {
			return imageLayout{channels: 3, height: side, width: side, flat: true}, nil
		}
		return bad(fmt.Sprintf("%d is neither S*S (gray) nor 3*S*S (RGB)", l))
	}
	return bad("want [N C H W], [N H W] or [N L]")
}

func isqrt(n int64) int64 {
	r := int64(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// LoadImage decodes a PNG or JPEG file and converts it to one example of the model input in (see
// ImageInput). The returned shape has a batch dimension of 1.
func LoadImage(path string, in ort.Info, spec *preprocess.Spec) (data []float32, shape []int64, err error) {
	img, err := dataset.DecodeImage(path)
	if err != nil {
		return nil, nil, err
	}
	return ImageInput(img, in, spec)
}

// ImageInput converts an image to one example of the model input in, with a batch dimension of 1.
// With a preprocessing spec (usually the one the model records, preprocess.MetadataKey) the spec
// decides: resize, crop, mean/std, channel order and layout, to the model's fixed example shape.
// Without one the image is resized to the model's height and width and scaled to [0, 1] (see the
// package documentation for the layouts).
func ImageInput(img image.Image, in ort.Info, spec *preprocess.Spec) (data []float32, shape []int64, err error) {
	if spec != nil {
		per := make([]int, 0, len(in.Shape))
		for _, d := range in.Shape[min(1, len(in.Shape)):] {
			per = append(per, int(d))
		}
		data, err := spec.Image(nil, img, per)
		if err != nil {
			return nil, nil, fmt.Errorf("predict: model input %s: %w", in, err)
		}
		shape := []int64{1}
		for _, d := range per {
			shape = append(shape, int64(d))
		}
		return data, shape, nil
	}
	layout, err := layoutFor(in)
	if err != nil {
		return nil, nil, err
	}
	data, h, w := imageToCHW(img, layout)
	if layout.flat {
		return data, []int64{1, int64(len(data))}, nil
	}
	if len(in.Shape) == 3 {
		return data, []int64{1, h, w}, nil
	}
	return data, []int64{1, layout.channels, h, w}, nil
}

// imageToCHW resizes img to the layout's size (or keeps its own) and returns channel planes of
// values in [0, 1], with the height and width used.
func imageToCHW(img image.Image, layout imageLayout) ([]float32, int64, int64) {
	b := img.Bounds()
	h, w := layout.height, layout.width
	if h < 0 {
		h = int64(b.Dy())
	}
	if w < 0 {
		w = int64(b.Dx())
	}
	rgba := image.NewRGBA(image.Rect(0, 0, int(w), int(h)))
	if int64(b.Dx()) == w && int64(b.Dy()) == h {
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	} else {
		draw.BiLinear.Scale(rgba, rgba.Bounds(), img, b, draw.Src, nil)
	}
	plane := int(h * w)
	data := make([]float32, int(layout.channels)*plane)
	for y := 0; y < int(h); y++ {
		for x := 0; x < int(w); x++ {
			c := rgba.RGBAAt(x, y)
			i := y*int(w) + x
			if layout.channels == 1 {
				data[i] = float32(color.GrayModel.Convert(c).(color.Gray).Y) / 255
				continue
			}
			data[i] = float32(c.R) / 255
			data[plane+i] = float32(c.G) / 255
			data[2*plane+i] = float32(c.B) / 255
		}
	}
	return data, h, w
}
