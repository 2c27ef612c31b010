package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
	"github.com/xreg-onnx/xreg-onnx/xreg"
	"google.golang.org/protobuf/proto"
)

// writeImageFolder writes root/<class>/<i>.png|jpg: smooth random colour images of random sizes
// (none the model's), class a reddish, class b bluish.
func writeImageFolder(t *testing.T, root string, perClass int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	var files []string
	for ci, class := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(root, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range perClass {
			w, h := 33+rng.IntN(40), 33+rng.IntN(40)
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			fx, fy := rng.Float64()*0.3, rng.Float64()*0.3
			for y := range h {
				for x := range w {
					v := 0.5 + 0.5*math.Sin(fx*float64(x)+fy*float64(y))
					r, b := uint8(255*v), uint8(128*v)
					if ci == 1 {
						r, b = b, r
					}
					img.SetNRGBA(x, y, color.NRGBA{R: r, G: uint8(rng.IntN(256)), B: b, A: 255})
				}
			}
			name, _ := writeImage(t, filepath.Join(root, class, string(rune('0'+i/10))+string(rune('0'+i%10))), img, i%3 == 2, 90)
			files = append(files, name)
		}
	}
	return files
}

// writeImage writes img to base.jpg (JPEG at quality) or base.png and returns the file's name and
// bytes.
func writeImage(t *testing.T, base string, img image.Image, jpg bool, quality int) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	name := base + ".png"
	if jpg {
		name = base + ".jpg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality})
	} else {
		err = png.Encode(&buf, img)
	}
	if err == nil {
		err = os.WriteFile(name, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return name, buf.Bytes()
}

// TestPreprocessImageFolder: fine-tuning on a folder of PNG/JPEG images of any size with --resize,
// --crop, --mean and --std (and, for a channels-last model, --layout nhwc --channel-order bgr)
// records the preprocessing in the trained model; the export keeps it, and report (given the
// folder), predict and serve (given an image file), with only the exported model, give the
// probabilities the trainer's deterministic pass gives on the preprocessed image. Without the
// recorded preprocessing the same image predicts differently (the check can fail).
func TestPreprocessImageFolder(t *testing.T) {
	orttest.Require(t)
	folder := filepath.Join(t.TempDir(), "images")
	files := writeImageFolder(t, folder, 8)
	norm := []string{"--resize", "36", "--crop", "32", "--mean", "0.5,0.4,0.45", "--std", "0.25,0.2,0.3"}
	for _, c := range []struct {
		name   string
		model  func(t *testing.T, dir string) string
		flags  []string
		shape  []int
		layout string
	}{
		{"NCHW RGB", func(*testing.T, string) string { return fixture("models", "resnet18-tiny.onnx") }, norm, []int{3, 32, 32}, preprocess.NCHW},
		{"NHWC BGR", nhwcModel, append([]string{"--layout", "nhwc", "--channel-order", "bgr"}, norm...), []int{32, 32, 3}, preprocess.NHWC},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			injected, trained, final := filepath.Join(dir, "m.xreg.onnx"), filepath.Join(dir, "m.trained.onnx"), filepath.Join(dir, "m.onnx")
			pre := c.flags
			for _, args := range [][]string{
				{"inject", "-o", injected, c.model(t, dir)},
				append(append([]string{"train", "-o", trained, "--data", folder, "--reg-fraction", "0.25", "--epochs", "1", "--batch-size", "4",
					"--mc", "2", "--reg-every", "1"}, pre...), injected),
				{"export", "-o", final, trained},
			} {
				if out, err := command(args...).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", args[0], err, out)
				}
			}
			spec, ok, err := preprocess.FromModelFile(final)
			if err != nil || !ok || spec.Resize != 36 || spec.Crop != 32 || len(spec.Std) != 3 || (spec.Layout != c.layout && c.layout != preprocess.NCHW) {
				t.Fatalf("the export records preprocessing %+v (%v, %v), want the training flags", spec, ok, err)
			}

			// The trainer's deterministic pass on the images as train read them.
			m, err := onnximport.Load(trained)
			if err != nil {
				t.Fatal(err)
			}
			set, err := dataset.Load(folder, dataset.Options{Shape: c.shape, Classes: 10, Preprocess: &spec})
			if err != nil {
				t.Fatal(err)
			}
			want, err := xreg.Predict(m, set, nil, xreg.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}

			// report, given only the model and the folder: the mean NLL of the trainer's probabilities.
			reportDir := filepath.Join(dir, "report")
			if out, err := command("report", "--data", folder, "-o", reportDir, final).CombinedOutput(); err != nil {
				t.Fatalf("report: %v\n%s", err, out)
			}
			js, err := os.ReadFile(filepath.Join(reportDir, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Models []struct {
					Metrics struct {
						N   int     `json:"n"`
						NLL float64 `json:"nll"`
					} `json:"metrics"`
				} `json:"models"`
			}
			if err := json.Unmarshal(js, &rep); err != nil {
				t.Fatal(err)
			}
			nll := 0.0
			for i, row := range want {
				nll -= math.Log(row[set.Y[i]]) / float64(len(want))
			}
			if len(rep.Models) != 1 || rep.Models[0].Metrics.N != len(files) || math.Abs(rep.Models[0].Metrics.NLL-nll) > 1e-4 {
				t.Errorf("report: %+v, want %d examples with NLL %.6f (the trainer's)", rep.Models, len(files), nll)
			}

			// serve, given only the model.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &syncBuffer{}
			app := newApp()
			app.Writer, app.ErrWriter = out, out
			done := make(chan error, 1)
			go func() {
				done <- app.RunContext(ctx, []string{"xreg-onnx", "serve", "--addr", "127.0.0.1:0", final})
			}()
			addrRE := regexp.MustCompile(`http://(127\.0\.0\.1:[0-9]+)`)
			var base string
			for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
				if m := addrRE.FindStringSubmatch(out.String()); m != nil {
					base = "http://" + m[1]
				}
				if time.Now().After(deadline) {
					t.Fatalf("serve did not start:\n%s", out.String())
				}
			}
			client := &http.Client{Timeout: 10 * time.Second}

			maxDiff := func(a, b []float64) float64 {
				d := 0.0
				for j := range a {
					d = math.Max(d, math.Abs(a[j]-b[j]))
				}
				return d
			}
			for i, file := range files {
				if i%3 != 0 && filepath.Ext(file) != ".jpg" { // a few PNGs and every JPEG
					continue
				}
				var buf bytes.Buffer
				if err := runApp(context.Background(), &buf, "predict", "--input", file, "--json", final); err != nil {
					t.Fatalf("predict %s: %v\n%s", file, err, buf.String())
				}
				var rep predictReport
				if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(rep.Probabilities[0], want[i]); d > 1e-4 {
					t.Errorf("%s: predict differs from the trainer by %g", file, d)
				}

				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				ct := "image/png"
				if filepath.Ext(file) == ".jpg" {
					ct = "image/jpeg"
				}
				resp, err := client.Post(base+"/predict", ct, bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				var got predict.Response
				err = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(got.Probabilities) != 1 {
					t.Fatalf("serve %s: %d %+v %v", file, resp.StatusCode, got, err)
				}
				if d := maxDiff(got.Probabilities[0], want[i]); d > 1e-4 {
					t.Errorf("%s: serve differs from the trainer by %g", file, d)
				}

				// Without the recorded preprocessing (scaled straight to 32×32, no normalization).
				buf.Reset()
				if err := runApp(context.Background(), &buf, "predict", "--input", file, "--json", "--resize", "0", "--crop", "0", "--mean", "", "--std", "", "--channel-order", "rgb", "--layout", c.layout, final); err != nil {
					t.Fatal(err)
				}
				js := buf.Bytes() // the notice that the flags replace recorded steps, then the JSON
				if i := bytes.IndexByte(js, '{'); i < 0 || !bytes.Contains(js[:i], []byte("part of the preprocessing "+final+" records")) {
					t.Errorf("predict with flags over the recorded spec does not say so:\n%s", js)
				} else {
					js = js[i:]
				}
				var raw predictReport
				if err := json.Unmarshal(js, &raw); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: predict %.2g, serve %.2g, unpreprocessed %.2g from the trainer", filepath.Base(file),
					maxDiff(rep.Probabilities[0], want[i]), maxDiff(got.Probabilities[0], want[i]), maxDiff(raw.Probabilities[0], want[i]))
				if d := maxDiff(raw.Probabilities[0], want[i]); d < 1e-3 {
					t.Errorf("%s: without preprocessing the prediction is within %g of the trainer's: the check cannot fail", file, d)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

// nhwcModel writes resnet18-tiny with a channels-last input: input_nhwc [batch 32 32 3] goes
// through Transpose(perm 0 3 1 2) to the original network.
func nhwcModel(t *testing.T, dir string) string {
	t.Helper()
	m, err := onnximport.Load(fixture("models", "resnet18-tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	gp := m.Proto.Graph
	in := gp.Input[0]
	in.Name = proto.String("input_nhwc")
	d := in.Type.GetTensorType().Shape.Dim
	d[1], d[2], d[3] = d[2], d[3], d[1]
	gp.Node = append([]*onnxpb.NodeProto{{Name: proto.String("to_nchw"), OpType: proto.String("Transpose"), Input: []string{"input_nhwc"},
		Output: []string{"input"}, Attribute: []*onnxpb.AttributeProto{onnximport.AttrInts("perm", []int64{0, 3, 1, 2})}}}, gp.Node...)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nhwc.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrainReadsRecordedPreprocessing: train without preprocessing flags applies the spec the input
// model records (read from the model it loaded, not from the file a second time) and records it
// again; a recorded spec that does not validate is refused with the file named.
func TestTrainReadsRecordedPreprocessing(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "images")
	writeImageFolder(t, folder, 4)
	injected, first, second, bad := filepath.Join(dir, "m.xreg.onnx"), filepath.Join(dir, "m1.onnx"), filepath.Join(dir, "m2.onnx"), filepath.Join(dir, "bad.onnx")
	train := func(out, in string, flags ...string) ([]byte, error) {
		args := append([]string{"train", "-o", out, "--data", folder, "--reg-fraction", "0.25", "--epochs", "1", "--batch-size", "4",
			"--mc", "2", "--reg-every", "1"}, flags...)
		return command(append(args, in)...).CombinedOutput()
	}
	if out, err := command("inject", "-o", injected, fixture("models", "resnet18-tiny.onnx")).CombinedOutput(); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
	if out, err := train(first, injected, "--resize", "36", "--crop", "32", "--mean", "0.5,0.4,0.45", "--std", "0.25,0.2,0.3"); err != nil {
		t.Fatalf("train with flags: %v\n%s", err, out)
	}
	if out, err := train(second, first); err != nil {
		t.Fatalf("train on the recorded spec: %v\n%s", err, out)
	}
	spec, ok, err := preprocess.FromModelFile(second)
	if err != nil || !ok || spec.Resize != 36 || spec.Crop != 32 || !slices.Equal(spec.Mean, []float64{0.5, 0.4, 0.45}) || !slices.Equal(spec.Std, []float64{0.25, 0.2, 0.3}) {
		t.Fatalf("the second run records %+v (%v, %v), want the first run's flags", spec, ok, err)
	}

	// One flag over a recorded spec replaces that field only, and says so.
	third := filepath.Join(dir, "m4.onnx")
	out, err := train(third, first, "--std", "0.5,0.5,0.5")
	if err != nil {
		t.Fatalf("train with --std over the recorded spec: %v\n%s", err, out)
	}
	if want := "train: --std replaces part of the preprocessing " + first + " records"; !bytes.Contains(out, []byte(want)) {
		t.Errorf("train with --std over the recorded spec does not report it (want %q):\n%s", want, out)
	}
	spec, ok, err = preprocess.FromModelFile(third)
	if err != nil || !ok || spec.Resize != 36 || spec.Crop != 32 || !slices.Equal(spec.Mean, []float64{0.5, 0.4, 0.45}) || !slices.Equal(spec.Std, []float64{0.5, 0.5, 0.5}) {
		t.Fatalf("--std over the recorded spec records %+v (%v, %v), want the first run's spec with std 0.5,0.5,0.5", spec, ok, err)
	}
	if out, err := train(filepath.Join(dir, "m5.onnx"), first, "--mean", "0.5,0.4,0.45"); err != nil || bytes.Contains(out, []byte("replaces part")) {
		t.Errorf("a flag equal to the recorded value is reported as a replacement (%v):\n%s", err, out)
	}
	if out, err := train(filepath.Join(dir, "m6.onnx"), first, "--mean", "0.5,0.4,0.45", "--resize", "40"); err != nil ||
		!bytes.Contains(out, []byte("train: --resize replaces part of the preprocessing")) {
		t.Errorf("--mean (as recorded) with --resize 40 should name --resize alone (%v):\n%s", err, out)
	}

	m, err := onnximport.Load(first)
	if err != nil {
		t.Fatal(err)
	}
	m.SetMetadata(preprocess.MetadataKey, `{"Resize": -3}`)
	if err := m.Save(bad); err != nil {
		t.Fatal(err)
	}
	out, err = train(filepath.Join(dir, "m3.onnx"), bad)
	if err == nil || !bytes.Contains(out, []byte("train: --model: "+bad+": preprocess: metadata "+preprocess.MetadataKey)) {
		t.Fatalf("train on a bad recorded spec: %v\n%s", err, out)
	}
}
