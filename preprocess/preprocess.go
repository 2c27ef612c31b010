package preprocess

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
)

// MetadataKey is the metadata_props entry holding a model's Spec as JSON.
const MetadataKey = "xreg.preprocess"

// Layouts and channel orders.
const (
	NCHW = "nchw"
	NHWC = "nhwc"
	RGB  = "rgb"
	BGR  = "bgr"
)

// Spec says how an image becomes a model input example. The zero value scales the image to the
// model's size, [0, 1], RGB planes (NCHW).
type Spec struct {
	Resize       int       `json:"resize,omitempty"`
	Crop         int       `json:"crop,omitempty"`
	Mean         []float64 `json:"mean,omitempty"`
	Std          []float64 `json:"std,omitempty"`
	ChannelOrder string    `json:"channel_order,omitempty"`
	Layout       string    `json:"layout,omitempty"`
}

// IsZero reports whether s is the default preprocessing.
func (s Spec) IsZero() bool {
	return s.Resize == 0 && s.Crop == 0 && len(s.Mean) == 0 && len(s.Std) == 0 &&
		(s.ChannelOrder == "" || s.ChannelOrder == RGB) && (s.Layout == "" || s.Layout == NCHW)
}

// SpecError is a Spec field whose value cannot be honoured: Field names it ("Resize", "Crop", …),
// Value is the value given, Err says why. The CLI maps Field to its flag.
type SpecError struct {
	Field string
	Value any
	Err   error
}

func (e *SpecError) Error() string {
	if s, ok := e.Value.(string); ok {
		return fmt.Sprintf("preprocess: Spec.%s %q: %v", e.Field, s, e.Err)
	}
	return fmt.Sprintf("preprocess: Spec.%s %v: %v", e.Field, e.Value, e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

func specErr(field string, value any, format string, args ...any) error {
	return &SpecError{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// Validate checks the spec; its errors are *SpecError naming the field.
func (s Spec) Validate() error {
	switch {
	case s.Resize < 0:
		return specErr("Resize", s.Resize, "want a size > 0 (or 0: no resize step)")
	case s.Crop < 0:
		return specErr("Crop", s.Crop, "want a size > 0 (or 0: crop to the model's size)")
	case s.Resize > 0 && s.Crop > s.Resize:
		return specErr("Crop", s.Crop, "is larger than the resize size %d", s.Resize)
	case s.ChannelOrder != "" && s.ChannelOrder != RGB && s.ChannelOrder != BGR:
		return specErr("ChannelOrder", s.ChannelOrder, "want rgb or bgr")
	case s.Layout != "" && s.Layout != NCHW && s.Layout != NHWC:
		return specErr("Layout", s.Layout, "want nchw or nhwc")
	}
	for _, v := range s.Mean {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return specErr("Mean", s.Mean, "want finite values")
		}
	}
	for _, v := range s.Std {
		if !(v > 0) || math.IsInf(v, 0) {
			return specErr("Std", s.Std, "want finite values > 0")
		}
	}
	return nil
}

// ParseList parses a comma-separated list of numbers ("0.485,0.456,0.406"); "" is nil.
func ParseList(flag, s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return nil, fmt.Errorf("preprocess: %s %q: want numbers separated by commas", flag, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// ExampleShape returns the per-example shape [C H W] (NCHW) or [H W C] (NHWC) and the channel,
// height and width it holds.
func (s Spec) dims(shape []int) (c, h, w int, err error) {
	if len(shape) != 3 {
		return 0, 0, 0, fmt.Errorf("preprocess: an image example needs a [C H W] or [H W C] shape, got %v", shape)
	}
	c, h, w = shape[0], shape[1], shape[2]
	if s.Layout == NHWC {
		h, w, c = shape[0], shape[1], shape[2]
	}
	if c != 1 && c != 3 {
		return 0, 0, 0, fmt.Errorf("preprocess: the model input %v (layout %s) has %d channels; images give 1 or 3", shape, s.layout(), c)
	}
	if h <= 0 || w <= 0 {
		return 0, 0, 0, fmt.Errorf("preprocess: the model input %v has no fixed height and width", shape)
	}
	if s.Crop > 0 && (s.Crop != h || s.Crop != w) {
		return 0, 0, 0, specErr("Crop", s.Crop, "gives %d×%d images, the model takes %d×%d", s.Crop, s.Crop, w, h)
	}
	for _, l := range []struct {
		field string
		v     []float64
	}{{"Mean", s.Mean}, {"Std", s.Std}} {
		if len(l.v) > 1 && len(l.v) != c {
			want := "1"
			if c > 1 {
				want = fmt.Sprintf("1 or %d", c)
			}
			return 0, 0, 0, specErr(l.field, l.v, "has %d values for a %d-channel input (want %s)", len(l.v), c, want)
		}
	}
	return c, h, w, nil
}

func (s Spec) layout() string {
	if s.Layout == "" {
		return NCHW
	}
	return s.Layout
}

// Check reports whether s can make examples of the given per-example shape.
func (s Spec) Check(shape []int) error {
	if err := s.Validate(); err != nil {
		return err
	}
	_, _, _, err := s.dims(shape)
	return err
}

// Image converts img to one example of the given per-example shape ([C H W], or [H W C] for
// layout NHWC), appended to dst.
func (s Spec) Image(dst []float32, img image.Image, shape []int) ([]float32, error) {
	c, h, w, err := s.dims(shape)
	if err != nil {
		return nil, err
	}
	img = Opaque(img)
	b := img.Bounds()
	var src *image.RGBA64
	if s.Resize == 0 && s.Crop == 0 {
		src = image.NewRGBA64(image.Rect(0, 0, w, h))
		scale(src, img)
	} else {
		iw, ih := b.Dx(), b.Dy()
		if s.Resize > 0 {
			if iw <= ih {
				iw, ih = s.Resize, int(math.Round(float64(ih)*float64(s.Resize)/float64(iw)))
			} else {
				iw, ih = int(math.Round(float64(iw)*float64(s.Resize)/float64(ih))), s.Resize
			}
		}
		resized := image.NewRGBA64(image.Rect(0, 0, iw, ih))
		scale(resized, img)
		ch, cw := h, w
		if s.Crop > 0 {
			ch, cw = s.Crop, s.Crop
		}
		if ch != h || cw != w {
			return nil, fmt.Errorf("preprocess: the crop size %d gives %d×%d images, the model takes %d×%d", s.Crop, cw, ch, w, h)
		}
		if ch > ih || cw > iw {
			return nil, fmt.Errorf("preprocess: a %d×%d image (after resizing to %d) is smaller than the %d×%d crop", iw, ih, s.Resize, cw, ch)
		}
		// torchvision's CenterCrop: top = round((H − h) / 2), left = round((W − w) / 2).
		top, left := int(math.Round(float64(ih-ch)/2)), int(math.Round(float64(iw-cw)/2))
		src = resized.SubImage(image.Rect(left, top, left+cw, top+ch)).(*image.RGBA64)
	}
	return s.pixels(dst, src, c, h, w), nil
}

func scale(dst *image.RGBA64, img image.Image) {
	if img.Bounds().Dx() == dst.Bounds().Dx() && img.Bounds().Dy() == dst.Bounds().Dy() {
		draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
		return
	}
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
}

// pixels appends the c×h×w example of img (h×w pixels from its bounds' origin).
func (s Spec) pixels(dst []float32, img *image.RGBA64, c, h, w int) []float32 {
	start := len(dst)
	dst = slices.Grow(dst, c*h*w)[:start+c*h*w]
	out := dst[start:]
	b := img.Bounds()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := img.RGBA64At(b.Min.X+x, b.Min.Y+y)
			r, g, bl := float64(p.R)/0xffff, float64(p.G)/0xffff, float64(p.B)/0xffff
			var vals [3]float64
			if c == 1 {
				vals[0] = (19595*float64(p.R) + 38470*float64(p.G) + 7471*float64(p.B)) / (65536 * 0xffff)
			} else if s.ChannelOrder == BGR {
				vals = [3]float64{bl, g, r}
			} else {
				vals = [3]float64{r, g, bl}
			}
			for k := 0; k < c; k++ {
				v := vals[k]
				if len(s.Mean) > 0 {
					v -= s.Mean[min(k, len(s.Mean)-1)]
				}
				if len(s.Std) > 0 {
					v /= s.Std[min(k, len(s.Std)-1)]
				}
				i := k*h*w + y*w + x
				if s.Layout == NHWC {
					i = (y*w+x)*c + k
				}
				out[i] = float32(v)
			}
		}
	}
	return dst
}

// Opaque drops the alpha channel of non-premultiplied images, keeping their colours, as Pillow's
// convert("RGB") does; other images are returned unchanged (transparent pixels of premultiplied
// images are black).
func Opaque(img image.Image) image.Image {
	switch m := img.(type) {
	case *image.NRGBA:
		o := *m
		o.Pix = slices.Clone(m.Pix)
		for i := 3; i < len(o.Pix); i += 4 {
			o.Pix[i] = 0xff
		}
		return &o
	case *image.NRGBA64:
		o := *m
		o.Pix = slices.Clone(m.Pix)
		for i := 6; i < len(o.Pix); i += 8 {
			o.Pix[i], o.Pix[i+1] = 0xff, 0xff
		}
		return &o
	case *image.Paletted:
		o := *m
		o.Palette = make(color.Palette, len(m.Palette))
		for i, c := range m.Palette {
			if n, ok := c.(color.NRGBA); ok {
				n.A = 0xff
				c = n
			}
			o.Palette[i] = c
		}
		return &o
	}
	return img
}

// String describes the spec in words, in the order the steps apply, e.g. "resize the shorter side
// to 256, center crop 224×224, mean 0.485,0.456,0.406, std 0.229,0.224,0.225, rgb, nchw".
func (s Spec) String() string {
	var parts []string
	switch {
	case s.Resize > 0:
		parts = append(parts, fmt.Sprintf("resize the shorter side to %d", s.Resize))
	case s.Crop == 0:
		parts = append(parts, "scale to the model's size")
	}
	if s.Crop > 0 {
		parts = append(parts, fmt.Sprintf("center crop %d×%d", s.Crop, s.Crop))
	} else if s.Resize > 0 {
		parts = append(parts, "center crop to the model's size")
	}
	parts = append(parts, "[0, 1]")
	for _, l := range []struct {
		name string
		v    []float64
	}{{"mean", s.Mean}, {"std", s.Std}} {
		if len(l.v) == 0 {
			continue
		}
		vals := make([]string, len(l.v))
		for i, v := range l.v {
			vals[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		parts = append(parts, l.name+" "+strings.Join(vals, ","))
	}
	order := s.ChannelOrder
	if order == "" {
		order = RGB
	}
	return strings.Join(append(parts, order, s.layout()), ", ")
}

// Marshal returns the spec as the JSON recorded under MetadataKey.
func (s Spec) Marshal() string {
	b, _ := json.Marshal(s) // a struct of numbers and strings always marshals
	return string(b)
}

// Parse reads a spec recorded under MetadataKey.
func Parse(js string) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("preprocess: metadata %s: %w", MetadataKey, err)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("preprocess: metadata %s: %w", MetadataKey, err)
	}
	return s, nil
}

// FromModelFile returns the spec recorded in an ONNX file's metadata, and whether there is one. It
// reads only the protobuf, so it works on any model onnxruntime runs.
func FromModelFile(path string) (Spec, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, false, fmt.Errorf("preprocess: %w", err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return Spec{}, false, fmt.Errorf("preprocess: %s: not an ONNX model: %v", path, err)
	}
	for _, e := range mp.GetMetadataProps() {
		if e.GetKey() == MetadataKey {
			s, err := Parse(e.GetValue())
			if err != nil {
				return Spec{}, false, fmt.Errorf("%s: %w", path, err)
			}
			return s, true, nil
		}
	}
	return Spec{}, false, nil
}
