package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/finetune"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "train",
		Usage:     "fine-tune an injected model: params θ on the training data, regs φ (noise σ, augmentation) on a regularization split",
		ArgsUsage: "model.xreg.onnx",
		Description: `Cross-regularization (Brito, ICML 2025): every step updates θ with Adam on the cross-entropy of
one noisy pass over a training batch; every --reg-every steps, φ takes one step on the NLL of the
average of --mc noisy passes over a regularization batch (BatchNorm in evaluation mode, running
statistics untouched). The output is the injected model with trained values; export it with
'xreg-onnx export'. A checkpoint is written atomically every --checkpoint-every steps and at every
epoch end; --resume continues after a kill (also with a larger training set: φ keeps adapting).`,
		Flags: append(append(append(trainDataFlags(), trainingFlags()...),
			&cli.IntFlag{Name: "reset-head", Usage: "replace the classifier head (a Gemm) by a new one for `N` classes (0: keep the head)"},
			&cli.StringFlag{Name: "regs", Usage: "`MODE`: learn (cross-regularization), fixed (keep φ at its initial value) or off (no noise: plain training)", Value: string(xreg.DefaultConfig().Regs)},
			&cli.Float64Flag{Name: "sigma", Usage: "when given, override the initial σ of every noise point with `X` (e.g. 1 for the fixed-σ baseline)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "trained model `FILE` (default: <model>.trained.onnx beside the input)"},
			&cli.StringFlag{Name: "checkpoint", Usage: "checkpoint `FILE` (default: <output>.ckpt)"},
			&cli.IntFlag{Name: "checkpoint-every", Usage: "write the checkpoint every `N` steps and at every epoch end (0: only at epoch ends)", Value: 100},
			&cli.BoolFlag{Name: "resume", Usage: "continue from the checkpoint if it exists"},
			&cli.StringFlag{Name: "log", Usage: "JSONL log `FILE` of every φ update and epoch (default: <output>.log.jsonl)"},
			&cli.BoolFlag{Name: "keep-checkpoint", Usage: "keep the checkpoint after a successful run (by default it is removed once the trained model is written)"},
			forceFlag(),
		), preprocessFlags("; recorded in the trained model for predict, serve and report (default: what the model records)")...),
		Action: runTrain,
	})
}

func runTrain(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("train: expected one model file (the output of xreg-onnx inject), got %d arguments", c.NArg())
	}
	path := c.Args().First()
	m, err := onnximport.Load(path)
	if err != nil {
		return err
	}
	if n := c.Int("reset-head"); n != 0 {
		if err := xreg.ResetHead(m, n, c.Int64("seed")); err != nil {
			return headError("train", err)
		}
	}
	out := c.String("output")
	if out == "" {
		out = strings.TrimSuffix(path, filepath.Ext(path)) + ".trained.onnx"
	}
	ckpt := c.String("checkpoint")
	if ckpt == "" {
		ckpt = out + ".ckpt"
	}
	logPath := c.String("log")
	if logPath == "" {
		logPath = out + ".log.jsonl"
	}
	if err := checkTrainOutputs(c, path, out, ckpt, logPath); err != nil {
		return err
	}
	shape, classes, err := modelIO(m)
	if err != nil {
		return err
	}
	spec, err := preprocessSpec(c, "train", path, m) // m: the file is not read again
	if err != nil {
		return err
	}
	if spec != nil && preprocessSet(c) {
		if err := spec.Check(shape); err != nil {
			return preprocessError("train", err) // e.g. 3 --mean values for a 1-channel model
		}
	}
	train, reg, err := loadSplits(c, shape, classes, spec)
	if err != nil {
		return err
	}
	cfg := trainConfig(c)
	cfg.Regs, cfg.Sigma = xreg.RegMode(c.String("regs")), c.Float64("sigma")
	cfg.Checkpoint, cfg.CheckpointEvery, cfg.Resume = ckpt, c.Int("checkpoint-every"), c.Bool("resume")
	if err := cfg.Normalize(); err != nil {
		return trainError(err)
	}
	if cfg.Regs != xreg.RegsOff {
		if _, err := inject.Regs(m); err != nil {
			return fmt.Errorf("train: %w (run xreg-onnx inject first, or train with --regs off)", err)
		}
	}
	logFile, err := openLog(logPath, cfg.Resume, ckpt)
	if err != nil {
		return err
	}
	// The log comes into existence at its first line, so a run that fails before any leaves none.
	defer logFile.Close()
	cfg.Log = logFile
	w := c.App.ErrWriter
	fmt.Fprintf(w, "train: %s: %d training and %d regularization examples, %d epochs, regs %s, K=%d, r=%d\n",
		path, train.Len(), reg.Len(), cfg.Epochs, cfg.Regs, cfg.MC, cfg.RegEvery)
	prog := newProgress(w, cfg.Epochs, ckpt)
	cfg.Hooks = []xreg.Hooks{prog.hooks()}
	cfg.Version = version
	// A log is kept only beside a checkpoint it belongs to: a failed or interrupted run that left
	// none cannot be resumed, and its error says what went wrong.
	discardOrphanLog := func() {
		if _, err := os.Stat(ckpt); err != nil {
			logFile.Discard()
		}
	}
	defer atInterrupt(discardOrphanLog)()
	res, err := xreg.Train(m, train, reg, cfg)
	prog.finish()
	if err != nil {
		discardOrphanLog()
		return trainError(err)
	}
	if err := xreg.WriteResult(m, res); err != nil {
		return err
	}
	if spec != nil {
		m.SetMetadata(preprocess.MetadataKey, spec.Marshal())
	}
	if err := m.Save(out); err != nil {
		return err
	}
	if !c.Bool("keep-checkpoint") {
		if err := os.Remove(ckpt); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("train: remove the checkpoint of the finished run: %w", err)
		}
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%d steps, %.1f s, %.1f s on φ updates); log %s\n", out, res.Steps, res.Seconds, res.RegSeconds, logPath)
	return nil
}

// trainFlags names the flag of every xreg.TrainConfig field the train command sets.
var trainFlags = map[string]string{
	"Epochs": "epochs", "BatchSize": "batch-size", "LR": "lr", "Beta1": "beta1", "Beta2": "beta2",
	"WeightDecay": "weight-decay", "ClipNorm": "clip-norm", "LabelSmoothing": "label-smoothing", "Regs": "regs",
	"RegLR": "reg-lr", "RegOptimizer": "reg-optimizer", "RegEvery": "reg-every", "MC": "mc", "RegBatch": "reg-batch",
	"Sigma": "sigma", "RegBatchNorm": "reg-batchnorm", "Freeze": "freeze", "Trainable": "trainable", "Seed": "seed",
	"CheckpointEvery": "checkpoint-every", "Resume": "resume",
}

// trainError is configError for the train command.
func trainError(err error) error { return configError("train", err) }

// configError maps an *xreg.ConfigError to the flag of command cmd that set the field; other
// errors pass through.
func configError(cmd string, err error) error {
	var ce *xreg.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Field == "Regs" && errors.Is(ce, inject.ErrNotInjected) {
		return fmt.Errorf("%s: %w (run xreg-onnx inject first, or train with --regs off)", cmd, ce.Err)
	}
	flag, ok := trainFlags[ce.Field]
	if !ok {
		return err // a field the command does not set: the library's own words
	}
	if ce.Err != nil {
		return fmt.Errorf("%s: --%s %v: %s: %w", cmd, flag, ce.Value, ce.Reason, ce.Err)
	}
	return fmt.Errorf("%s: --%s %v: %s", cmd, flag, ce.Value, ce.Reason)
}

// headError maps an *xreg.HeadError to --reset-head, after cmd; other errors pass through.
func headError(cmd string, err error) error {
	var he *xreg.HeadError
	if !errors.As(err, &he) {
		return err
	}
	return fmt.Errorf("%s: --reset-head %d: %w", cmd, he.Classes, he.Err)
}

// modelIO returns the per-example input shape and the number of classes of a classifier.
func modelIO(m *onnximport.Model) ([]int, int, error) {
	shape, classes, err := finetune.ClassifierIO(m)
	if err != nil {
		return nil, 0, fmt.Errorf("train: %w", err)
	}
	return shape, classes, nil
}

// trainDataFlags are the training and regularization data flags of train and finetune.
func trainDataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "training data `PATH`: IDX images file (labels beside it), .npz, .npy (with --labels), CIFAR-10 .bin or folder, or an image folder", Required: true},
		&cli.StringFlag{Name: "labels", Usage: "labels `FILE` for --data when it cannot be derived (IDX, .npy)"},
		&cli.IntFlag{Name: "limit", Usage: "use only the first `N` training examples (0: all)"},
		&cli.StringFlag{Name: "reg-data", Usage: "regularization data `PATH` (same formats as --data); φ is trained on it"},
		&cli.StringFlag{Name: "reg-labels", Usage: "labels `FILE` for --reg-data"},
		&cli.IntFlag{Name: "reg-limit", Usage: "use only the first `N` regularization examples (0: all)"},
		&cli.Float64Flag{Name: "reg-fraction", Usage: "without --reg-data: carve this `FRACTION` of --data out as the regularization split (seeded by --seed)", Value: 0.1},
	}
}

// trainingFlags are the optimisation flags shared by train and finetune (read by trainConfig).
func trainingFlags() []cli.Flag {
	d := xreg.DefaultConfig()
	return []cli.Flag{
		&cli.IntFlag{Name: "epochs", Usage: "total `N` of epochs over the training data", Value: d.Epochs},
		&cli.IntFlag{Name: "batch-size", Usage: "training batch size `N`", Value: d.BatchSize},
		&cli.Float64Flag{Name: "lr", Usage: "Adam learning rate `X` of θ", Value: d.LR},
		&cli.Float64Flag{Name: "beta1", Usage: "Adam β1 `X` of θ", Value: d.Beta1},
		&cli.Float64Flag{Name: "beta2", Usage: "Adam β2 `X` of θ", Value: d.Beta2},
		&cli.Float64Flag{Name: "weight-decay", Usage: "decoupled weight decay `X` of θ (AdamW; 0: off)"},
		&cli.Float64Flag{Name: "clip-norm", Usage: "clip the global gradient norm of θ to `X` (0: off)"},
		&cli.Float64Flag{Name: "label-smoothing", Usage: "label smoothing `X` of the training loss (0: off)"},
		&cli.Float64Flag{Name: "reg-lr", Usage: "learning rate `X` of φ", Value: d.RegLR},
		&cli.StringFlag{Name: "reg-optimizer", Usage: "optimizer `NAME` of φ: adam or sgd", Value: d.RegOptimizer},
		&cli.IntFlag{Name: "reg-every", Usage: "r: update φ after every `N`-th θ step", Value: d.RegEvery},
		&cli.IntFlag{Name: "mc", Usage: "K: `N` noisy passes averaged on a regularization batch", Value: d.MC},
		&cli.IntFlag{Name: "reg-batch", Usage: "regularization examples `N` per φ update (0: --batch-size)"},
		&cli.StringFlag{Name: "reg-batchnorm", Usage: "BatchNorm `MODE` in the regularization passes: eval (running statistics, as deployed) or batch (the regularization batch's statistics, each noisy pass its own; costs K extra forward passes per φ update); running statistics are never updated by them", Value: d.RegBatchNorm},
		&cli.StringFlag{Name: "freeze", Usage: "train only the layers `SPEC` selects and freeze the rest: head, last:N, or a regular expression over param names"},
		&cli.StringFlag{Name: "trainable", Usage: "also train the Constant or Identity outputs this `REGEX` selects (by value or node name); weights of Conv, ConvTranspose, Gemm, MatMul, the Add bias after them and normalization layers train wherever they live without it"},
		&cli.Int64Flag{Name: "seed", Usage: "`SEED` of data order, noise and splits", Value: 0},
	}
}

// trainConfig reads trainingFlags into a configuration (regs mode, σ and checkpoints left unset).
func trainConfig(c *cli.Context) xreg.TrainConfig {
	return xreg.TrainConfig{
		Epochs: c.Int("epochs"), BatchSize: c.Int("batch-size"), LR: c.Float64("lr"), Beta1: c.Float64("beta1"),
		Beta2: c.Float64("beta2"), WeightDecay: c.Float64("weight-decay"), ClipNorm: c.Float64("clip-norm"),
		LabelSmoothing: c.Float64("label-smoothing"), RegLR: c.Float64("reg-lr"), RegOptimizer: c.String("reg-optimizer"),
		RegEvery: c.Int("reg-every"), MC: c.Int("mc"), RegBatch: c.Int("reg-batch"), RegBatchNorm: c.String("reg-batchnorm"),
		Freeze: c.String("freeze"), Trainable: c.String("trainable"), Seed: c.Int64("seed"),
	}
}

func loadSplits(c *cli.Context, shape []int, classes int, spec *preprocess.Spec) (train, reg *dataset.Set, err error) {
	opt := dataset.Options{Labels: c.String("labels"), Shape: shape, Classes: classes, Limit: c.Int("limit"), Preprocess: spec}
	all, err := dataset.Load(c.String("data"), opt)
	if err != nil {
		return nil, nil, fmt.Errorf("train: --data: %w", dataError(err, "labels"))
	}
	if p := c.String("reg-data"); p != "" {
		ropt := dataset.Options{Labels: c.String("reg-labels"), Shape: shape, Classes: classes, Limit: c.Int("reg-limit"), Preprocess: spec}
		reg, err = dataset.Load(p, ropt)
		if err != nil {
			return nil, nil, fmt.Errorf("train: --reg-data: %w", dataError(err, "reg-labels"))
		}
		return all, reg, nil
	}
	f := c.Float64("reg-fraction")
	if f <= 0 || f >= 1 {
		return nil, nil, fmt.Errorf("train: --reg-fraction %v must be in (0, 1) when --reg-data is not given", f)
	}
	train, reg, err = all.Split(f, c.Int64("seed"))
	if err != nil {
		return nil, nil, fmt.Errorf("train: --reg-fraction: %w", err)
	}
	return train, reg, nil
}

// checkTrainOutputs applies the overwrite policy to the trained model, the checkpoint and the
// log. With --resume the checkpoint and log are expected to exist (they are continued); without
// it, an existing checkpoint is a run that could be resumed, and replacing it takes --force.
func checkTrainOutputs(c *cli.Context, model, out, ckpt, logPath string) error {
	inputs := []string{model, c.String("data"), c.String("labels"), c.String("reg-data"), c.String("reg-labels")}
	if c.Bool("resume") {
		// Distinct files, none an input; the checkpoint and log may exist.
		if err := atomicfile.CheckOutputs([]string{out, ckpt, logPath}, inputs, true); err != nil {
			return checkOutputs(c, "train", []string{out, ckpt, logPath}, inputs...)
		}
		return checkOutputs(c, "train", []string{out}, inputs...)
	}
	if _, err := os.Stat(ckpt); err == nil && !c.Bool("force") {
		return fmt.Errorf("train: checkpoint %s exists (a run that stopped early): pass --resume to continue it, or --force to start over", ckpt)
	}
	return checkOutputs(c, "train", []string{out, ckpt, logPath}, inputs...)
}

// openLog opens the JSONL log: created (or replaced) at its first line for a fresh run; when resuming
// from a checkpoint, cut back to the lines the checkpoint had seen (a killed run may have logged
// past it) and appended to.
func openLog(path string, resume bool, ckpt string) (*atomicfile.Lazy, error) {
	keep := -1
	if resume {
		if ck, err := xreg.LoadCheckpoint(ckpt); err == nil {
			keep = ck.LogLines
		}
	}
	if keep < 0 {
		return atomicfile.NewLazy(path, 0o644, false), nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("train: log: %w", err)
	}
	cut := 0
	for i := 0; i < keep && cut < len(data); i++ {
		j := bytes.IndexByte(data[cut:], '\n')
		if j < 0 {
			cut = len(data)
			break
		}
		cut += j + 1
	}
	if cut == 0 {
		// Nothing to keep: the resumed run starts the log afresh, at its first line.
		return atomicfile.NewLazy(path, 0o644, false), nil
	}
	if err := atomicfile.WriteFile(path, data[:cut], 0o644); err != nil {
		return nil, fmt.Errorf("train: log: %w", err)
	}
	return atomicfile.NewLazy(path, 0o644, true), nil
}
