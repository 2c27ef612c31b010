package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "report",
		Usage:     "measure the calibration of one or more classifier ONNX models on labelled data and write a report",
		ArgsUsage: "model.onnx [more.onnx ...]",
		Description: `Runs each model (any single-input classifier ONNX file, not only xreg-onnx exports) in
onnxruntime over --data and writes report.json, report.md and report.html with accuracy, NLL, Brier
score, ECE (equal-width and equal-mass bins), MCE, per-class accuracy and a reliability diagram per
model, side by side. A model whose output is not a probability vector is softmaxed. With --log (the
JSONL log of xreg-onnx train) the report also plots the σ trajectory.

--mc K evaluates every stochastic --model (an injected or trained model before export, whose noise
runs in onnxruntime) by fresh Monte-Carlo averaging: each example is replicated K times, each copy
draws its own noise, and the K probability vectors are averaged. That is the prediction the learned
σ is trained for; put the exports beside it (plain, --temperature, frozen --mc) to see what each
keeps of it. Deterministic models are evaluated once whatever --mc says.

The models are the arguments (--model FILE, repeatable, is the older spelling and still works; its
models come first); flags may come before or after them. The report goes to -o DIR, by default
<first model>.report beside the first model.

Example:
  xreg-onnx report --name original --name fine-tuned --name temperature \
      --data test-images-idx3-ubyte.gz -o report/ orig.onnx fine.onnx fine.temp.onnx

An image folder (--data DIR/<class>/*.png|jpg) is read at each model's input size and
preprocessed as the models record it from train, or as the preprocessing flags say; models that
disagree are refused (report them separately).`,
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "model", Usage: "deprecated: ONNX model `FILE` (give the models as arguments)"},
			&cli.StringSliceFlag{Name: "name", Usage: "`NAME` of each model, in the same order (default: the file name)"},
			&cli.StringFlag{Name: "data", Usage: "labelled data `PATH`: IDX images file (labels beside it), .npz, .npy (with --labels), CIFAR-10 .bin or folder, or an image folder", Required: true},
			&cli.StringFlag{Name: "labels", Usage: "labels `FILE` for --data when it cannot be derived (IDX, .npy)"},
			&cli.IntFlag{Name: "limit", Usage: "use only the first `N` examples (0: all)"},
			&cli.StringFlag{Name: "log", Usage: "training log `FILE` (JSONL) whose σ trajectory to plot"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "report `DIR` (default: <first model>.report beside it)"},
			&cli.IntFlag{Name: "bins", Value: calib.DefaultBins, Usage: "confidence `BINS` of ECE, MCE and the reliability diagrams"},
			&cli.StringFlag{Name: "title", Usage: "report `TITLE`"},
			&cli.IntFlag{Name: "mc", Usage: "fresh Monte-Carlo draws per example for stochastic (injected or trained, not exported) models: `K` (0: one noisy pass)"},
			&cli.Int64Flag{Name: "seed", Usage: "`SEED` of the --mc draws"},
			forceFlag(),
		}, preprocessFlags(" (default: what the models record, from train)")...),
		Action: runReport,
	})
}

// reportModel is one model to measure: a file read as bytes, or a model in memory.
type reportModel struct {
	name  string
	path  string
	data  []byte
	model *onnximport.Model
	// provenance adds the model's xreg metadata to the report.
	provenance bool
	// mc > 0 evaluates a stochastic model by fresh Monte-Carlo averaging of mc draws per example
	// (export.EvaluateMC) with seed.
	mc   int
	seed int64
}

func runReport(c *cli.Context) error {
	paths, names := append(c.StringSlice("model"), c.Args().Slice()...), c.StringSlice("name")
	if len(paths) == 0 {
		return fmt.Errorf("report: expected one or more model files (xreg-onnx report [flags] model.onnx [more.onnx ...])")
	}
	out := c.String("output")
	if out == "" {
		out = strings.TrimSuffix(paths[0], filepath.Ext(paths[0])) + ".report"
	}
	if c.Int("mc") < 0 {
		return fmt.Errorf("report: --mc %d: want a positive number of draws per example (or 0 for one noisy pass)", c.Int("mc"))
	}
	if len(names) != 0 && len(names) != len(paths) {
		return fmt.Errorf("report: %d --name for %d models; give one name per model or none", len(names), len(paths))
	}
	models := make([]reportModel, len(paths))
	seen := map[string]string{}
	for i, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".onnx")
		if len(names) > 0 {
			name = names[i]
		}
		if name == "" {
			return fmt.Errorf("report: --name %d is empty", i+1)
		}
		if prev, dup := seen[calib.FileName(name)]; dup {
			return fmt.Errorf("report: models %s and %s would both be named %q; name them with --name", prev, p, name)
		}
		seen[calib.FileName(name)] = p
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("report: model: %w", err)
		}
		models[i] = reportModel{name: name, path: p, data: data, provenance: true}
		if predict.IsStochastic(data) {
			models[i].mc, models[i].seed = c.Int("mc"), c.Int64("seed")
		}
	}
	modelNames := make([]string, len(models))
	for i, m := range models {
		modelNames[i] = m.name
	}
	inputs := append([]string{c.String("data"), c.String("labels"), c.String("log")}, paths...)
	if err := checkOutputs(c, "report", reportOutputs(out, modelNames, c.String("log") != ""), inputs...); err != nil {
		return err
	}
	var set *dataset.Set
	var err error
	if fi, statErr := os.Stat(c.String("data")); statErr == nil && fi.IsDir() {
		set, err = loadReportImages(c, models)
	} else {
		set, err = loadReportData(c.String("data"), c.String("labels"), c.Int("limit"))
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r := &calib.Report{Title: c.String("title"), Provenance: map[string]string{}}
	if err := measure(r, models, set, c.Int("bins")); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := addTrajectory(r, c.String("log")); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	dir := out
	if err := calib.WriteReport(dir, r); err != nil {
		return err
	}
	printMetrics(c.App.Writer, r)
	fmt.Fprintf(c.App.Writer, "wrote %s, report.md and report.json\n", filepath.Join(dir, "report.html"))
	return nil
}

func loadReportData(path, labels string, limit int) (*dataset.Set, error) {
	if limit < 0 {
		return nil, fmt.Errorf("--limit %d: want a positive number of examples (or 0 for all)", limit)
	}
	set, err := dataset.Load(path, dataset.Options{Labels: labels, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("--data: %w", dataError(err, "labels"))
	}
	return set, nil
}

// loadReportImages reads a folder (an image folder, or CIFAR-10 batches) at the models' input
// size, with their preprocessing: the flags', else what each model records; the models must agree.
func loadReportImages(c *cli.Context, models []reportModel) (*dataset.Set, error) {
	var shape []int
	var spec *preprocess.Spec
	for i, rm := range models {
		s, err := preprocessSpec(c, "report", rm.path, nil)
		if err != nil {
			return nil, err
		}
		sh, err := exampleShape(rm.data)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", rm.path, err)
		}
		if i > 0 && (!slices.Equal(sh, shape) || (s == nil) != (spec == nil) || s != nil && s.Marshal() != spec.Marshal()) {
			return nil, fmt.Errorf("--data %s: models %s and %s take images differently (input %v, preprocessing %s; input %v, preprocessing %s); report them separately",
				c.String("data"), models[0].path, rm.path, shape, describeSpec(spec), sh, describeSpec(s))
		}
		shape, spec = sh, s
	}
	if c.Int("limit") < 0 {
		return nil, fmt.Errorf("--limit %d: want a positive number of examples (or 0 for all)", c.Int("limit"))
	}
	set, err := dataset.Load(c.String("data"), dataset.Options{Labels: c.String("labels"), Limit: c.Int("limit"), Shape: shape, Preprocess: spec})
	if err != nil {
		return nil, fmt.Errorf("--data: %w", dataError(err, "labels"))
	}
	return set, nil
}

func describeSpec(s *preprocess.Spec) string {
	if s == nil {
		return "none"
	}
	return s.Marshal()
}

// exampleShape returns the per-example shape of a serialised model's first graph input that is not
// an initializer; every dimension after the batch must be fixed.
func exampleShape(data []byte) ([]int, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %v", err)
	}
	inits := map[string]bool{}
	for _, t := range mp.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, in := range mp.GetGraph().GetInput() {
		if inits[in.GetName()] {
			continue
		}
		var shape []int
		for i, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			v := d.GetDimValue()
			if i > 0 && v <= 0 {
				return nil, fmt.Errorf("input %q has a dynamic dimension %d: an image folder needs a fixed size", in.GetName(), i)
			}
			if i > 0 {
				shape = append(shape, int(v))
			}
		}
		return shape, nil
	}
	return nil, fmt.Errorf("the model has no input")
}

// measure runs every model over set and adds its metrics, and the data's and models' provenance,
// to r.
func measure(r *calib.Report, models []reportModel, set *dataset.Set, bins int) error {
	if bins < 1 {
		return fmt.Errorf("--bins %d: want at least 1", bins)
	}
	r.Provenance["data"] = set.Source
	r.Provenance["examples"] = strconv.Itoa(set.Len())
	r.Provenance["bins"] = strconv.Itoa(bins)
	for _, rm := range models {
		data := rm.data
		if data == nil {
			var err error
			if data, err = rm.model.Marshal(); err != nil {
				return err
			}
		}
		label := rm.path
		if label == "" {
			label = rm.name
		}
		var ev *predict.Evaluation
		var err error
		if rm.mc > 0 {
			ev, err = predict.EvaluateMC(data, label, set, rm.mc, rm.seed)
		} else {
			ev, err = predict.Evaluate(data, label, set, "")
		}
		if err != nil {
			return err
		}
		met, err := calib.Compute(ev.Probabilities, set.Y, bins)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		r.Models = append(r.Models, calib.Model{Name: rm.name, Metrics: met})
		if !rm.provenance {
			continue
		}
		prefix := ""
		if len(models) > 1 {
			prefix = rm.name + ": "
		}
		if rm.path != "" {
			r.Provenance[prefix+"file"] = rm.path
		}
		r.Provenance[prefix+"output"] = fmt.Sprintf("%q (%s)", ev.Output, map[bool]string{true: "logits, softmaxed", false: "probabilities"}[ev.SoftmaxApplied])
		if rm.mc > 0 {
			r.Provenance[prefix+"evaluation"] = fmt.Sprintf("fresh Monte-Carlo average of %d noise draws per example in onnxruntime (seed %d)", rm.mc, rm.seed)
		} else if predict.IsStochastic(data) {
			r.Provenance[prefix+"evaluation"] = "one noisy pass (the model is stochastic; --mc K averages K fresh draws per example)"
		}
		for k, v := range provenanceOf(metadataOf(data)) {
			r.Provenance[prefix+k] = v
		}
	}
	return nil
}

// metadataOf returns a serialised model's metadata_props, or nil when it does not parse.
func metadataOf(data []byte) map[string]string {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range mp.GetMetadataProps() {
		out[e.GetKey()] = e.GetValue()
	}
	return out
}

func parseLearned(js string) []export.Learned {
	var regs []export.Learned
	if json.Unmarshal([]byte(js), &regs) != nil {
		return nil
	}
	return regs
}

func addTrajectory(r *calib.Report, log string) error {
	if log == "" {
		return nil
	}
	t, err := calib.ReadTrajectory(log)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	if len(t) == 0 {
		return fmt.Errorf("--log %s holds no σ trajectory (no lines of kind \"reg\" with a \"sigma\" object)", log)
	}
	r.Trajectory = t
	r.Provenance["training log"] = log
	return nil
}

// printMetrics prints one line of metrics per model.
func printMetrics(w io.Writer, r *calib.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\taccuracy\tNLL\tBrier\tECE\tadaptive ECE\tMCE\t\n")
	for _, m := range r.Models {
		x := m.Metrics
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t\n", m.Name, x.Accuracy, x.NLL, x.Brier, x.ECE, x.AdaptiveECE, x.MCE)
	}
	tw.Flush()
}
