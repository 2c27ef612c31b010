package preprocess

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

// fill returns a w×h image whose pixel (x, y) is f(x, y).
func fill(w, h int, f func(x, y int) color.NRGBA) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, f(x, y))
		}
	}
	return img
}

func solid(c color.NRGBA) func(x, y int) color.NRGBA { return func(int, int) color.NRGBA { return c } }

// TestImage checks closed forms: a solid colour stays that colour through any resize and crop,
// then (v/255 − mean)/std per channel, in the channel order and layout asked; a center crop takes
// the middle pixels; the shorter side is resized and the crop centred on the longer one.
func TestImage(t *testing.T) {
	c := color.NRGBA{R: 51, G: 102, B: 204, A: 255} // 0.2, 0.4, 0.8
	// quadrants: left half red, right half blue.
	halves := func(x, y int) color.NRGBA {
		if x < 20 {
			return color.NRGBA{R: 255, A: 255}
		}
		return color.NRGBA{B: 255, A: 255}
	}
	grid := func(x, y int) color.NRGBA { return color.NRGBA{R: uint8(10*y + x), A: 255} }
	for _, tc := range []struct {
		name  string
		spec  Spec
		img   image.Image
		shape []int
		want  []float64 // nil: check only pixel indexes in at
		at    map[int]float64
	}{
		{"solid, scaled to the model", Spec{}, fill(7, 5, solid(c)), []int{3, 2, 2}, []float64{.2, .2, .2, .2, .4, .4, .4, .4, .8, .8, .8, .8}, nil},
		{"solid, resize + crop + normalize", Spec{Resize: 6, Crop: 4, Mean: []float64{0.2, 0.5, 0.3}, Std: []float64{0.5, 0.25, 0.5}},
			fill(9, 13, solid(c)), []int{3, 4, 4}, nil, map[int]float64{0: 0, 16: -0.4, 47: 1}},
		{"solid, BGR", Spec{ChannelOrder: BGR}, fill(3, 3, solid(c)), []int{3, 1, 1}, []float64{.8, .4, .2}, nil},
		{"solid, NHWC, one mean and std", Spec{Layout: NHWC, Mean: []float64{0.2}, Std: []float64{0.2}}, fill(3, 3, solid(c)), []int{1, 2, 3},
			[]float64{0, 1, 3, 0, 1, 3}, nil},
		{"grey luma", Spec{}, fill(2, 2, solid(c)), []int{1, 2, 2}, nil, map[int]float64{0: (0.299*51 + 0.587*102 + 0.114*204) / 255}},
		{"center crop", Spec{Crop: 2}, fill(4, 4, grid), []int{1, 2, 2}, nil, nil},
		{"shorter side resized, crop centred", Spec{Resize: 10, Crop: 10}, fill(40, 20, halves), []int{3, 10, 10}, nil,
			map[int]float64{0: 1, 200: 0, 9: 0, 209: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.spec.Image(nil, tc.img, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "center crop" {
				// rows 1–2, columns 1–2 of R = 10y + x, luma of pure red: 0.299·R.
				for i, r := range []float64{11, 12, 21, 22} {
					if w := 19595 * r * 257 / (65536 * 0xffff); math.Abs(float64(got[i])-w) > 1e-6 {
						t.Errorf("pixel %d = %v, want %v", i, got[i], w)
					}
				}
				return
			}
			for i, w := range tc.want {
				if math.Abs(float64(got[i])-w) > 2e-3 {
					t.Errorf("value %d = %v, want %v (all %v)", i, got[i], w, got)
				}
			}
			for i, w := range tc.at {
				if math.Abs(float64(got[i])-w) > 2e-3 {
					t.Errorf("value %d = %v, want %v", i, got[i], w)
				}
			}
		})
	}
}

// TestErrors: every bad setting is refused naming the Spec field (the CLI maps it to its flag).
func TestErrors(t *testing.T) {
	img := fill(8, 8, solid(color.NRGBA{A: 255}))
	for _, tc := range []struct {
		spec  Spec
		shape []int
		want  string
	}{
		{Spec{Resize: -1}, []int{3, 4, 4}, "Spec.Resize -1: want a size > 0"},
		{Spec{Resize: 4, Crop: 6}, []int{3, 6, 6}, "Spec.Crop 6: is larger than the resize size 4"},
		{Spec{Crop: 3}, []int{3, 4, 4}, "Spec.Crop 3: gives 3×3 images, the model takes 4×4"},
		{Spec{Resize: 2, Crop: 2}, []int{3, 2, 2}, ""},
		{Spec{Crop: 9}, []int{3, 9, 9}, "smaller than the 9×9 crop"},
		{Spec{Std: []float64{0}}, []int{3, 4, 4}, "Spec.Std [0]: want finite values > 0"},
		{Spec{Mean: []float64{1, 2}}, []int{3, 4, 4}, "Spec.Mean [1 2]: has 2 values for a 3-channel input"},
		{Spec{ChannelOrder: "rbg"}, []int{3, 4, 4}, `Spec.ChannelOrder "rbg"`},
		{Spec{Layout: "chw"}, []int{3, 4, 4}, `Spec.Layout "chw"`},
		{Spec{}, []int{4, 4, 4}, "4 channels"},
		{Spec{Layout: NHWC}, []int{3, 4, 4}, "4 channels"},
	} {
		err := tc.spec.Check(tc.shape)
		if err == nil {
			_, err = tc.spec.Image(nil, img, tc.shape)
		}
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v on %v: error %v, want one containing %q", tc.spec, tc.shape, err, tc.want)
		}
	}
}

// TestMetadataRoundTrip: a spec survives Marshal and Parse; unknown fields and bad values are
// refused.
func TestMetadataRoundTrip(t *testing.T) {
	s := Spec{Resize: 256, Crop: 224, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}, ChannelOrder: BGR, Layout: NHWC}
	got, err := Parse(s.Marshal())
	if err != nil || got.Marshal() != s.Marshal() {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{`{"resize": 1, "sharpen": 2}`, `{"std": [0]}`, `[1]`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%s) accepted", bad)
		}
	}
}

// TestString: the words the reports show, step by step.
func TestString(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{}, "scale to the model's size, [0, 1], rgb, nchw"},
		{Spec{Resize: 256, Crop: 224, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}},
			"resize the shorter side to 256, center crop 224×224, [0, 1], mean 0.485,0.456,0.406, std 0.229,0.224,0.225, rgb, nchw"},
		{Spec{Resize: 36, ChannelOrder: BGR, Layout: NHWC}, "resize the shorter side to 36, center crop to the model's size, [0, 1], bgr, nhwc"},
		{Spec{Crop: 32, Std: []float64{0.5}}, "center crop 32×32, [0, 1], std 0.5, rgb, nchw"},
	} {
		if got := tc.spec.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.spec, got, tc.want)
		}
	}
}
