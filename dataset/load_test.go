package dataset

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expected holds what gen.py computed with numpy and Pillow for each fixture.
type expected struct {
	Shape   []int     `json:"shape"`
	Y       []int     `json:"y"`
	Classes int       `json:"classes"`
	Names   []string  `json:"names"`
	X       []float64 `json:"x"`
	Sums    []float64 `json:"sums"`
	Files   []string  `json:"files"`
}

func readExpected(t *testing.T) map[string]expected {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expected
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadFixtures(t *testing.T) {
	want := readExpected(t)
	const exact = 1e-6
	for _, test := range []struct {
		name, path, key string
		opt             Options
		// tol gives the absolute tolerance for example i; nil means exact.
		tol func(i int) float64
	}{
		{name: "idx", path: "testdata/idx/tiny-images-idx3-ubyte", key: "idx"},
		{name: "idx gzip", path: "testdata/idx/tinygz-images-idx3-ubyte.gz", key: "idx"},
		{name: "idx explicit labels", path: "testdata/idx/tinygz-images-idx3-ubyte.gz", key: "idx",
			opt: Options{Labels: "testdata/idx/tiny-labels-idx1-ubyte"}},
		{name: "npy float32", path: "testdata/npy/x.npy", key: "npy"},
		{name: "npy uint8 unscaled", path: "testdata/npy/x_u8.npy", key: "npy_u8_raw", opt: Options{Classes: 4}},
		{name: "npy uint8 scaled", path: "testdata/npy/x_u8.npy", key: "npy_u8_scaled", opt: Options{ScaleUint8: true, Classes: 4}},
		{name: "npy float64 fortran, float labels (N,1)", path: "testdata/npy/x_f64f.npy", key: "npy_f64f", opt: Options{Classes: 4}},
		{name: "npy big-endian", path: "testdata/npy/x_be.npy", key: "npy_be", opt: Options{Classes: 3}},
		{name: "npy channels-last", path: "testdata/npy/x_hwc.npy", key: "npy_hwc",
			opt: Options{ChannelsLast: true, ScaleUint8: true, Shape: []int{3, 4, 5}, Classes: 2}},
		{name: "npz", path: "testdata/npz/data.npz", key: "npz"},
		{name: "npz compressed, named arrays", path: "testdata/npz/keys.npz", key: "npz",
			opt: Options{XKey: "x_train", YKey: "y_train"}},
		{name: "cifar file", path: "testdata/cifar/test_batch.bin", key: "cifar_test"},
		{name: "cifar folder", path: "testdata/cifar", key: "cifar_dir"},
		{name: "image folder rgb", path: "testdata/images", key: "images_rgb", opt: Options{Shape: []int{3, 4, 5}},
			tol: imageTol(want["images_rgb"].Files, 0)},
		{name: "image folder grey", path: "testdata/images", key: "images_gray", opt: Options{Shape: []int{1, 4, 5}},
			// Pillow rounds luma to 8 bits; the loader does not.
			tol: imageTol(want["images_rgb"].Files, 0.5/255)},
		{name: "image folder resized", path: "testdata/images_big", key: "images_resize", opt: Options{Shape: []int{3, 4, 5}},
			// Pillow rounds the horizontal pass to 8 bits; x/image/draw keeps floats.
			tol: func(int) float64 { return 1.5 / 255 }},
	} {
		t.Run(test.name, func(t *testing.T) {
			w, ok := want[test.key]
			if !ok {
				t.Fatalf("no %q in expected.json", test.key)
			}
			s, err := Load(test.path, test.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Shape, w.Shape) {
				t.Errorf("shape %v, want %v", s.Shape, w.Shape)
			}
			if !slices.Equal(s.Y, w.Y) {
				t.Errorf("labels %v, want %v", s.Y, w.Y)
			}
			if wc := max(w.Classes, test.opt.Classes); wc > 0 && s.Classes != wc {
				t.Errorf("classes %d, want %d", s.Classes, wc)
			}
			if w.Names != nil && !slices.Equal(s.ClassNames, w.Names) {
				t.Errorf("class names %v, want %v", s.ClassNames, w.Names)
			}
			if s.Source != test.path {
				t.Errorf("source %q, want %q", s.Source, test.path)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			d := s.Dim()
			if w.X != nil {
				if len(s.X) != len(w.X) {
					t.Fatalf("%d values, want %d", len(s.X), len(w.X))
				}
				bad := 0
				for i, v := range s.X {
					tol := exact
					if test.tol != nil {
						tol = max(exact, test.tol(i/d))
					}
					if math.Abs(float64(v)-w.X[i]) > tol {
						if bad++; bad <= 5 {
							t.Errorf("x[%d] (example %d) = %v, want %v ± %g", i, i/d, v, w.X[i], tol)
						}
					}
				}
			}
			for i, want := range w.Sums {
				x, _ := s.Example(i)
				sum := 0.0
				for _, v := range x {
					sum += float64(v)
				}
				if math.Abs(sum-want) > 1e-3 {
					t.Errorf("example %d sums to %v, want %v", i, sum, want)
				}
			}
		})
	}
}

// imageTol allows JPEG decoders (libjpeg vs Go's) to differ by a few levels and PNGs by extra.
func imageTol(files []string, extra float64) func(int) float64 {
	return func(i int) float64 {
		if ext := strings.ToLower(filepath.Ext(files[i])); ext == ".jpg" || ext == ".jpeg" {
			return 3.0/255 + extra
		}
		return extra
	}
}

func TestLoadOffsetLimit(t *testing.T) {
	w := readExpected(t)["idx"]
	const d = 12
	for _, test := range []struct {
		offset, limit, from, to int
	}{
		{0, 0, 0, 5},
		{1, 3, 1, 4},
		{2, 0, 2, 5},
		{3, 10, 3, 5},
		{4, 1, 4, 5},
	} {
		s, err := Load("testdata/idx/tiny-images-idx3-ubyte", Options{Offset: test.offset, Limit: test.limit})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Y, w.Y[test.from:test.to]) {
			t.Errorf("offset %d limit %d: labels %v, want %v", test.offset, test.limit, s.Y, w.Y[test.from:test.to])
		}
		if s.Classes != 10 {
			t.Errorf("offset %d limit %d: %d classes, want 10 (counted over the whole file)", test.offset, test.limit, s.Classes)
		}
		for i, v := range s.X {
			if math.Abs(float64(v)-w.X[test.from*d+i]) > 1e-6 {
				t.Fatalf("offset %d limit %d: x[%d] = %v, want %v", test.offset, test.limit, i, v, w.X[test.from*d+i])
			}
		}
	}
}

func TestLoadReshape(t *testing.T) {
	for _, shape := range [][]int{{12}, {4, 3}, {1, 4, 3}, {4, 3, 1}, {2, 2, 3}} {
		s, err := Load("testdata/idx/tiny-images-idx3-ubyte", Options{Shape: shape})
		if err != nil {
			t.Errorf("shape %v: %v", shape, err)
			continue
		}
		if !slices.Equal(s.Shape, shape) || s.Dim() != 12 || len(s.X) != 60 {
			t.Errorf("shape %v: got shape %v, %d values", shape, s.Shape, len(s.X))
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tmp := t.TempDir()
	copyFile := func(from, to string, edit func([]byte)) string {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(b)
		}
		to = filepath.Join(tmp, to)
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return to
	}
	noLabels := copyFile("testdata/npy/x.npy", "data.npy", nil)
	loneX := copyFile("testdata/npy/x.npy", "x.npy", nil)
	// Flip a byte of the gzip CRC-32 trailer.
	badCRC := copyFile("testdata/idx/tinygz-images-idx3-ubyte.gz", "crc-images-idx3-ubyte.gz", func(b []byte) { b[len(b)-6] ^= 0xff })
	copyFile("testdata/idx/tinygz-labels-idx1-ubyte.gz", "crc-labels-idx1-ubyte.gz", nil)

	for _, test := range []struct {
		name, path string
		opt        Options
		want       string
	}{
		{"truncated gzip", "testdata/idx/truncgz-images-idx3-ubyte.gz", Options{},
			"dataset: testdata/idx/truncgz-images-idx3-ubyte.gz: truncated"},
		{"gzip checksum", badCRC, Options{},
			"crc-images-idx3-ubyte.gz: after the 5 images the header announces: gzip: invalid checksum"},
		{"truncated idx", "testdata/idx/short-images-idx3-ubyte", Options{},
			"dataset: testdata/idx/short-images-idx3-ubyte: truncated: 5 images of [1 4 3] needs 60 bytes, found only 36"},
		{"wrong magic", "testdata/idx/magic-images-idx3-ubyte", Options{},
			"dataset: testdata/idx/magic-images-idx3-ubyte: not an IDX file: magic 0x12340803, want 0x00000803"},
		{"wrong labels magic", "testdata/idx/labmagic-images-idx3-ubyte", Options{},
			"dataset: testdata/idx/labmagic-labels-idx1-ubyte: not an IDX labels file: magic 0x00000803, want 0x00000801"},
		{"labels file given as images", "testdata/idx/tiny-labels-idx1-ubyte", Options{},
			"IDX file with 1 dimension holds labels, not images"},
		{"count mismatch", "testdata/idx/count-images-idx3-ubyte", Options{},
			"dataset: testdata/idx/count-labels-idx1-ubyte has 4 labels but testdata/idx/count-images-idx3-ubyte has 5 images"},
		{"idx label range", "testdata/idx/badlabel-images-idx3-ubyte", Options{Classes: 10},
			"dataset: testdata/idx/badlabel-labels-idx1-ubyte: label 12 at row 3 out of range [0,10)"},
		{"missing idx labels", "testdata/idx/nolabels-images-idx3-ubyte", Options{},
			"dataset: testdata/idx/nolabels-images-idx3-ubyte: labels file testdata/idx/nolabels-labels-idx1-ubyte or testdata/idx/nolabels-labels-idx1-ubyte.gz not found (set Options.Labels)"},
		{"missing explicit labels", "testdata/idx/tiny-images-idx3-ubyte", Options{Labels: "testdata/idx/nope"},
			"dataset: open testdata/idx/nope: no such file or directory"},
		{"npy NaN", "testdata/npy/x_nan.npy", Options{},
			"dataset: testdata/npy/x_nan.npy: NaN at row 2, value 1 of 3"},
		{"npy Inf", "testdata/npy/x_inf.npy", Options{},
			"dataset: testdata/npy/x_inf.npy: +Inf at row 1, value 2 of 3"},
		{"npy label range", "testdata/npy/x_bad.npy", Options{Classes: 10},
			"dataset: testdata/npy/y_bad.npy: label 12 at row 5 out of range [0,10)"},
		{"npy negative label", "testdata/npy/x_bad.npy", Options{Labels: "testdata/npy/y_neg.npy"},
			"dataset: testdata/npy/y_neg.npy: label -1 at row 3 is negative"},
		{"npy fractional label", "testdata/npy/x_bad.npy", Options{Labels: "testdata/npy/y_frac.npy"},
			"dataset: testdata/npy/y_frac.npy: label 1.5 at row 4 is not a class index"},
		{"npy one-hot labels", "testdata/npy/x_bad.npy", Options{Labels: "testdata/npy/y_onehot.npy"},
			"dataset: testdata/npy/y_onehot.npy: labels have shape [8 8], want (N) or (N, 1) class indices"},
		{"npy count mismatch", "testdata/npy/x_bad.npy", Options{Labels: "testdata/npy/y_short.npy"},
			"dataset: testdata/npy/y_short.npy has 3 labels but testdata/npy/x_bad.npy has 8 examples"},
		{"npy truncated", "testdata/npy/x_trunc.npy", Options{},
			"dataset: testdata/npy/x_trunc.npy: truncated: array of shape [6 2 3] and type <f4 needs 144 bytes, found only 124"},
		{"npy complex", "testdata/npy/x_cplx.npy", Options{Labels: "testdata/npy/y.npy"},
			`dataset: testdata/npy/x_cplx.npy: element type "<c8" not supported`},
		{"npy scalar", "testdata/npy/x_scalar.npy", Options{Labels: "testdata/npy/y.npy"},
			"dataset: testdata/npy/x_scalar.npy: a 0-dimensional array"},
		{"npy no labels name", noLabels, Options{},
			"data.npy: no labels file (it is guessed only for names starting with x, as x_train.npy → y_train.npy) (set Options.Labels)"},
		{"npy missing labels", loneX, Options{},
			"x.npy: labels file " + filepath.Join(tmp, "y.npy") + " not found"},
		{"shape mismatch", "testdata/npy/x.npy", Options{Shape: []int{784}},
			"dataset: testdata/npy/x.npy: examples of shape [2 3] (6 values) do not fit the expected shape [784] (784 values) (set Options.Shape)"},
		{"channels-last guard", "testdata/npy/x_hwc.npy", Options{Shape: []int{3, 4, 5}},
			"dataset: testdata/npy/x_hwc.npy: examples of shape [4 5 3] look channels-last but the expected shape is [3 4 5]; transpose them (set Options.ChannelsLast)"},
		{"channels-last needs rank 3", "testdata/npy/x.npy", Options{ChannelsLast: true},
			"dataset: testdata/npy/x.npy: Options.ChannelsLast needs examples of shape [H W C], got [2 3]"},
		{"npz missing array", "testdata/npz/keys.npz", Options{},
			`dataset: testdata/npz/keys.npz: no array "x" (it has x_train, y_train, x_test, y_test) (set Options.XKey)`},
		{"cifar truncated", "testdata/cifar_bad", Options{},
			"dataset: testdata/cifar_bad/data_batch_1.bin: 6246 bytes is not a whole number of CIFAR-10 records"},
		{"cifar classes", "testdata/cifar/test_batch.bin", Options{Classes: 5},
			"dataset: testdata/cifar/test_batch.bin: 10 classes but 5 expected (set Options.Classes)"},
		{"folder without shape", "testdata/images", Options{},
			"dataset: testdata/images: an image folder needs a shape [C H W] with C = 1 or 3"},
		{"folder with 2 channels", "testdata/images", Options{Shape: []int{2, 4, 5}},
			"an image folder needs a shape [C H W] with C = 1 or 3 (the model's input size), got [2 4 5] (set Options.Shape)"},
		{"folder without images", "testdata/images_empty", Options{Shape: []int{1, 4, 5}},
			"dataset: testdata/images_empty: no .png, .jpg or .jpeg files in the class folders a"},
		{"folder without classes", "testdata/idx", Options{Shape: []int{1, 4, 5}},
			"dataset: testdata/idx: no class sub-folders"},
		{"unknown format", "testdata/gen.py", Options{},
			"dataset: testdata/gen.py: unknown format"},
		{"missing file", "testdata/nope.npy", Options{},
			"dataset: stat testdata/nope.npy: no such file or directory"},
		{"offset past end", "testdata/idx/tiny-images-idx3-ubyte", Options{Offset: 5},
			"dataset: testdata/idx/tiny-images-idx3-ubyte: offset 5 is past the 5 examples"},
		{"negative limit", "testdata/idx/tiny-images-idx3-ubyte", Options{Limit: -1},
			"negative offset 0, limit -1 or classes 0"},
		{"bad shape option", "testdata/idx/tiny-images-idx3-ubyte", Options{Shape: []int{0, 12}},
			"example shape [0 12] has a non-positive dimension (set Options.Shape)"},
	} {
		t.Run(test.name, func(t *testing.T) {
			s, err := Load(test.path, test.opt)
			if err == nil {
				t.Fatalf("Load returned %d examples, want error %q", s.Len(), test.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "dataset: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with \"dataset: \"", msg)
			}
			if !strings.Contains(msg, test.want) {
				t.Errorf("error %q\nwant it to contain %q", msg, test.want)
			}
		})
	}
}

// TestOptionError: a missing option is a typed error naming the field, so that a caller (the CLI)
// can name its own flag for it.
func TestOptionError(t *testing.T) {
	for _, tc := range []struct {
		path  string
		opt   Options
		field string
	}{
		{"testdata/idx/nolabels-images-idx3-ubyte", Options{}, "Labels"},
		{"testdata/npz/keys.npz", Options{}, "XKey"},
		{"testdata/npz/keys.npz", Options{XKey: "x_train"}, "YKey"},
	} {
		_, err := Load(tc.path, tc.opt)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field || oe.Path != tc.path {
			t.Errorf("%s %+v: error %v (%T), want an *OptionError for %s", tc.path, tc.opt, err, err, tc.field)
		}
	}
}
