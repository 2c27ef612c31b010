package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg" // image.Decode
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// solidImage is one image of a solid-colour folder: its file, class and colour.
type solidImage struct {
	file  string
	class int
	rgb   [3]uint32 // 16-bit, as decoded
}

// writeSolidFolder writes root/a and root/b: solid-colour PNGs (and one JPEG per class) of
// different sizes, none square or the model's, class a reddish, class b bluish, in the order the
// folder is read (classes and files sorted by name). Every step of the preprocessing (resize,
// crop) keeps a solid colour, so the model input is known in closed form.
func writeSolidFolder(t *testing.T, root string, perClass int) []solidImage {
	t.Helper()
	var out []solidImage
	for ci, class := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(root, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range perClass {
			w, h := 40+7*i, 61-5*i
			v := uint8(40 + 25*i)
			rgb := [3]uint8{230 - v/2, v, 20 + v/3}
			if ci == 1 {
				rgb[0], rgb[2] = rgb[2], rgb[0]
			}
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for p := 0; p < len(img.Pix); p += 4 {
				copy(img.Pix[p:], []uint8{rgb[0], rgb[1], rgb[2], 255})
			}
			name, data := writeImage(t, filepath.Join(root, class, string(rune('0'+i))), img, i == perClass-1, 95)
			// The colour as decoded (a JPEG's is not quite the one encoded); it must still be solid.
			dec, _, err := image.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			c0 := dec.At(0, 0)
			for y := range h {
				for x := range w {
					if dec.At(x, y) != c0 {
						t.Fatalf("%s decodes to a colour that is not solid", name)
					}
				}
			}
			r, g, b, _ := c0.RGBA()
			out = append(out, solidImage{file: name, class: ci, rgb: [3]uint32{r, g, b}})
		}
	}
	return out
}

// solidSet is the model input of each image, computed in closed form: a solid 32×32 image of
// (colour − mean) / std per channel (colour in [0, 1]), NCHW.
func solidSet(images []solidImage, mean, std []float64) *dataset.Set {
	const side = 32
	set := &dataset.Set{Shape: []int{3, side, side}, Classes: 10}
	for _, im := range images {
		for k := range 3 {
			v := float64(im.rgb[k]) / 0xffff
			if mean != nil {
				v = (v - mean[k]) / std[k]
			}
			for range side * side {
				set.X = append(set.X, float32(v))
			}
		}
		set.Y = append(set.Y, im.class)
	}
	return set
}

// softmaxRows returns the softmax of each row of onnxruntime's output for the model over set.
func softmaxRows(t *testing.T, path string, set *dataset.Set) [][]float64 {
	t.Helper()
	y, k := ortLogits(t, path, set)
	rows := make([][]float64, set.Len())
	for i := range rows {
		row, mx, sum := make([]float64, k), math.Inf(-1), 0.0
		for j := range k {
			mx = math.Max(mx, float64(y[i*k+j]))
		}
		for j := range k {
			row[j] = math.Exp(float64(y[i*k+j]) - mx)
			sum += row[j]
		}
		for j := range row {
			row[j] /= sum
		}
		rows[i] = row
	}
	return rows
}

// TestFinetuneImageFolderPreprocessing: finetune on a folder of solid-colour images of any size
// with --resize, --crop, --mean and --std records the preprocessing in every model it writes
// (the original included, when the input does not record it); its report's test NLL of every model
// equals onnxruntime's on the inputs computed in closed form; predict, given the shipped model and
// a raw image (no flags), gives onnxruntime's probabilities on the closed-form input; a second
// finetune on an export, without flags, applies and records the recorded preprocessing.
func TestFinetuneImageFolderPreprocessing(t *testing.T) {
	orttest.Require(t)
	dir := t.TempDir()
	folder := filepath.Join(dir, "images")
	images := writeSolidFolder(t, folder, 6)
	mean, std := []float64{0.5, 0.4, 0.45}, []float64{0.25, 0.2, 0.3}
	want := preprocess.Spec{Resize: 36, Crop: 32, Mean: mean, Std: std}
	run := func(out, model string, flags ...string) *calib.Report {
		t.Helper()
		args := append([]string{"finetune", model, "--data", folder, "--reg-fraction", "0.25", "--test-data", folder,
			"--epochs", "1", "--batch-size", "4", "--mc", "2", "--reg-every", "1", "--baseline", "none", "--export-mc", "-1", "-o", out}, flags...)
		if printed, err := runExportCLI(args...); err != nil {
			t.Fatalf("%v\n%s", err, printed)
		}
		return readReport(t, out)
	}
	recorded := func(path string) {
		t.Helper()
		s, ok, err := preprocess.FromModelFile(path)
		if err != nil || !ok || s.Marshal() != want.Marshal() {
			t.Errorf("%s records preprocessing %+v (%v, %v), want %+v", path, s, ok, err, want)
		}
	}
	contextField := func(r *calib.Report) string {
		for _, s := range r.Context {
			for _, f := range s.Fields {
				if strings.HasPrefix(f.Key, "image preprocessing") {
					return f.Value
				}
			}
		}
		return ""
	}

	out := filepath.Join(dir, "ft")
	r := run(out, fixture("models", "resnet18-tiny.onnx"), "--resize", "36", "--crop", "32", "--mean", "0.5,0.4,0.45", "--std", "0.25,0.2,0.3")
	written, err := filepath.Glob(filepath.Join(out, "models", "*.onnx"))
	if err != nil || len(written) < 4 { // original, original+T, xreg, xreg+T, xreg.trained
		t.Fatalf("models written: %v (%v)", written, err)
	}
	for _, f := range written {
		recorded(f)
	}
	if got := contextField(r); got != want.String()+" (given)" {
		t.Errorf("report context: preprocessing %q, want %q", got, want.String()+" (given)")
	}

	// finetune's own measurements: every model's test NLL as onnxruntime gives it on the closed form.
	set := solidSet(images, mean, std)
	for _, m := range r.Models {
		if m.File == fixture("models", "resnet18-tiny.onnx") {
			t.Errorf("%s: the report ships the input file, which does not record the preprocessing", m.Name)
		}
		nll, acc := ortNLL(t, m.File, set)
		if m.Metrics.N != len(images) || math.Abs(nll-m.Metrics.NLL) > 1e-5 || math.Abs(acc-m.Metrics.Accuracy) > 1e-9 {
			t.Errorf("%s: report says %d examples, NLL %.6f, accuracy %.4f; onnxruntime on the closed-form inputs gives %d, %.6f, %.4f",
				m.Name, m.Metrics.N, m.Metrics.NLL, m.Metrics.Accuracy, len(images), nll, acc)
		}
	}

	// predict on the raw images with the shipped model and no flags.
	if r.Recommendation == nil {
		t.Fatal("no recommendation")
	}
	var ship string
	for _, m := range r.Models {
		if m.Name == r.Recommendation.Model {
			ship = m.File
		}
	}
	recorded(ship)
	wantP, rawP := softmaxRows(t, ship, set), softmaxRows(t, ship, solidSet(images, nil, nil))
	maxDiff := func(a, b []float64) float64 {
		d := 0.0
		for j := range a {
			d = math.Max(d, math.Abs(a[j]-b[j]))
		}
		return d
	}
	unnormalized := 0.0
	for i, im := range images {
		var buf bytes.Buffer
		if err := runApp(context.Background(), &buf, "predict", "--input", im.file, "--json", ship); err != nil {
			t.Fatalf("predict %s: %v\n%s", im.file, err, buf.String())
		}
		var got predictReport
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got.Probabilities[0], wantP[i]); d > 1e-5 {
			t.Errorf("%s: predict differs from onnxruntime on the closed-form input by %g", im.file, d)
		}
		unnormalized = math.Max(unnormalized, maxDiff(got.Probabilities[0], rawP[i]))
	}
	if unnormalized < 1e-4 { // 10× the tolerance above
		t.Errorf("without --mean/--std the predictions are within %g: the check cannot fail", unnormalized)
	}

	// A second finetune on an export, without flags: the recorded preprocessing applies (the report
	// measures the closed-form inputs again) and every model records it; the original is not rewritten.
	again := filepath.Join(dir, "ft2")
	input := filepath.Join(out, "models", "xreg.onnx")
	r2 := run(again, input)
	if got := contextField(r2); got != want.String()+" (recorded in the input model)" {
		t.Errorf("second run: report context: preprocessing %q", got)
	}
	for _, m := range r2.Models {
		if m.Name == "original" {
			if m.File != input {
				t.Errorf("second run: the original is %s, want the input %s (it records the preprocessing)", m.File, input)
			}
			nll, _ := ortNLL(t, m.File, set)
			if math.Abs(nll-m.Metrics.NLL) > 1e-5 {
				t.Errorf("second run: original NLL %.6f, onnxruntime on the closed-form inputs %.6f", m.Metrics.NLL, nll)
			}
			continue
		}
		recorded(m.File)
	}
}

// TestFinetunePreprocessRefused: a bad preprocessing value is refused before any training, with one
// line naming the flag, and no output folder.
func TestFinetunePreprocessRefused(t *testing.T) {
	orttest.Require(t)
	dir := t.TempDir()
	folder := filepath.Join(dir, "images")
	writeSolidFolder(t, folder, 2)
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--resize", "-1"}, "finetune: --resize -1: want a value in [0, 16384]"},
		{[]string{"--resize", "36", "--crop", "40"}, "finetune: --crop 40: is larger than the resize size 36"},
		{[]string{"--crop", "30"}, "finetune: --crop 30: gives 30×30 images, the model takes 32×32"},
		{[]string{"--mean", "0.5,x"}, `finetune: preprocess: --mean "0.5,x": want numbers separated by commas`},
		{[]string{"--mean", "0.5,0.4"}, "finetune: --mean 0.5,0.4: has 2 values for a 3-channel input (want 1 or 3)"},
		{[]string{"--std", "0.2,0,0.2"}, "finetune: --std 0.2,0,0.2: want finite values > 0"},
		{[]string{"--channel-order", "rbg"}, `finetune: --channel-order "rbg": want rgb or bgr`},
		{[]string{"--layout", "hwc"}, `finetune: --layout "hwc": want nchw or nhwc`},
	} {
		out := filepath.Join(dir, "out")
		args := append([]string{"finetune", fixture("models", "resnet18-tiny.onnx"), "--data", folder, "--test-data", folder, "-o", out}, tc.flags...)
		_, err := runExportCLI(args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line starting %q", tc.flags, err, tc.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: an output folder was written", tc.flags)
		}
	}

	// A spec recorded in the input that does not validate is refused naming the file, as train does.
	m, err := onnximport.Load(fixture("models", "resnet18-tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m.SetMetadata(preprocess.MetadataKey, `{"resize": -3}`)
	bad := filepath.Join(dir, "bad.onnx")
	if err := m.Save(bad); err != nil {
		t.Fatal(err)
	}
	_, err = runExportCLI("finetune", bad, "--data", folder, "--test-data", folder, "-o", filepath.Join(dir, "out"))
	if want := "finetune: " + bad + ": preprocess: metadata " + preprocess.MetadataKey; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("a bad recorded spec: error %v, want one starting %q", err, want)
	}
}
