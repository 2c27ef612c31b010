package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "predict",
		Usage:     "print a model's class probabilities for an input (.npy array, or PNG/JPEG image)",
		ArgsUsage: "model.onnx",
		Description: "Runs the model with onnxruntime on a NumPy array (float32/float64, the model's input\n" +
			"shape, or one example without the batch dimension) or on an image (resized to the model's\n" +
			"C×H×W and scaled to [0, 1], or preprocessed as the model records it from train, or as\n" +
			"--resize/--crop/--mean/--std/--channel-order/--layout say). Softmax is applied to the first\n" +
			"output unless it already holds probabilities; the output says which. Flags may come before or\n" +
			"after the model file.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "deprecated: ONNX model `FILE` (give the model as the argument)"},
			&cli.StringFlag{Name: "input", Usage: "input `FILE`: .npy, .png, .jpg or .jpeg", Required: true},
			&cli.IntFlag{Name: "top", Value: 5, Usage: "show the `K` most probable classes of each example"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"},
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "onnxruntime intra-op threads (`N`)"},
		}, preprocessFlags(" (default: what the model records, from train)")...),
		Action: func(c *cli.Context) error {
			model, err := modelArg(c, "predict")
			if err != nil {
				return err
			}
			spec, err := preprocessSpec(c, "predict", model, nil)
			if err != nil {
				return err
			}
			return runPredict(c.Context, c.App.Writer, model, c.String("input"), c.Int("top"), c.Int("threads"), c.Bool("json"), spec)
		},
	})
}

// predictTop is one of the most probable classes of an example.
type predictTop struct {
	Class       int     `json:"class"`
	Probability float64 `json:"probability"`
}

// predictReport is what predict prints as JSON.
type predictReport struct {
	Model string  `json:"model"`
	Input string  `json:"input"`
	Shape []int64 `json:"shape"`
	predict.Result
	Top [][]predictTop `json:"top"`
}

func runPredict(ctx context.Context, w io.Writer, modelPath, inputPath string, top, threads int, asJSON bool, spec *preprocess.Spec) error {
	if top < 1 {
		return fmt.Errorf("predict: --top %d: want at least 1", top)
	}
	if threads < 1 {
		return fmt.Errorf("predict: --threads %d: want at least 1", threads)
	}
	sess, err := ort.Open(modelPath, &ort.Options{IntraOpThreads: threads})
	if err != nil {
		return err
	}
	defer sess.Close()
	p, err := predict.New(sess)
	if err != nil {
		return err
	}
	var data []float32
	var shape []int64
	switch ext := strings.ToLower(filepath.Ext(inputPath)); ext {
	case ".npy":
		data, shape, err = predict.LoadNPY(inputPath)
	case ".png", ".jpg", ".jpeg":
		data, shape, err = predict.LoadImage(inputPath, p.Input(), spec)
	default:
		return fmt.Errorf("predict: --input %s: want a .npy, .png, .jpg or .jpeg file", inputPath)
	}
	if err != nil {
		return err
	}
	res, err := p.Predict(ctx, data, shape)
	if err != nil {
		return fmt.Errorf("%w (input %s)", err, inputPath)
	}
	rep := predictReport{Model: modelPath, Input: inputPath, Shape: shape, Result: *res, Top: make([][]predictTop, len(res.Probabilities))}
	for i, row := range res.Probabilities {
		for _, k := range predict.TopK(row, top) {
			rep.Top[i] = append(rep.Top[i], predictTop{Class: k, Probability: row[k]})
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "model   %s\n", modelPath)
	fmt.Fprintf(w, "input   %s, shape %v\n", inputPath, shape)
	how := "softmax of the output (it is not a probability vector)"
	if !res.SoftmaxApplied {
		how = "the output itself (already a probability vector)"
	}
	fmt.Fprintf(w, "output  %q; probabilities: %s\n", res.Output, how)
	for i, tops := range rep.Top {
		fmt.Fprintf(w, "example %d: class %d\n", i, res.Classes[i])
		for _, t := range tops {
			fmt.Fprintf(w, "  %5d  %.6f\n", t.Class, t.Probability)
		}
	}
	return nil
}
