package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "inject",
		Usage:     "add learnable noise after normalization layers (and input augmentation) to an ONNX model",
		ArgsUsage: "model.onnx",
		Description: "Rewrites the model so that it carries the regularization parameters of cross-regularization\n" +
			"and writes a new, valid ONNX file (onnxruntime runs it with random noise; `train` takes it).\n" +
			"The input file is never modified; the output is written atomically.\n" +
			"\n" +
			"Noise goes after every BatchNormalization, LayerNormalization (also the ReduceMean…Sqrt→Div\n" +
			"form of older exporters), InstanceNormalization and GroupNormalization, before the nodes that\n" +
			"read it: additive y = x + σ·ε, multiplicative y = x·(1 + σ·ε), ε ~ N(0, 1), σ = exp(log σ),\n" +
			"log σ an initializer xreg.noise.<node>.log_sigma (one value per point, or per channel).\n" +
			"--placement pre-affine puts the noise on the normalized value, before the node's scale γ and\n" +
			"bias β (y = γ·(x̂ + σ·ε) + β, as the paper does): the node gets constant ones and zeros and\n" +
			"γ, β follow the noise as Mul and Add; export puts them back into the original node.\n" +
			"\n" +
			"--augment resamples the image input (N×C×H×W) before the first layer; each transform has one\n" +
			"learnable magnitude m (initializer xreg.augment.<kind>.magnitude) and each sample draws\n" +
			"u ~ U(−1, 1): translate shifts by m·u pixels (x and y drawn separately), rotate turns by m·u\n" +
			"degrees, shear slants by m·u (x += m·u·y), scale zooms by exp(m·u). Bilinear sampling makes\n" +
			"the loss differentiable in m. Models below opset 16 are raised to 16 (GridSample) where that\n" +
			"is known to be safe.\n" +
			"\n" +
			"The metadata entry xreg.regs lists every parameter (name, kind, point, initial value, added\n" +
			"nodes). Flags may come before or after the model file.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the injected model to `FILE` (default: <model>.xreg.onnx beside the input)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the table of injection points and write nothing"},
			forceFlag(),
		}, injectFlags()...),
		Action: runInject,
	})
}

// injectFlags are the flags that choose the noise points and augmentation, shared by inject and
// finetune (read by injectOptions).
func injectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mode", Value: inject.Additive, Usage: "noise `MODE`: additive (x + σ·ε) or multiplicative (x·(1 + σ·ε))"},
		&cli.StringFlag{Name: "granularity", Value: inject.Layer, Usage: "`LEVEL`: one σ per injection point (layer) or one per channel (channel)"},
		&cli.StringFlag{Name: "placement", Value: inject.DefaultPlacement, Usage: "`WHERE` the noise goes relative to the normalization's affine part: post-affine (after γ·x̂ + β) or pre-affine (on x̂, before γ and β)"},
		&cli.Float64Flag{Name: "sigma0", Value: inject.DefaultSigma0, DefaultText: "e^−2 ≈ 0.135", Usage: "initial noise scale `σ0` (> 0; log σ starts at log σ0)"},
		&cli.StringFlag{Name: "where", Usage: "inject only at the points (normalization nodes, or --at nodes; with --norm, also weight nodes) whose name or op matches `REGEX`"},
		&cli.StringFlag{Name: "at", Usage: "put the noise after every node whose op type or name matches `OP|REGEX` (e.g. 'Relu|Dropout') instead of after the normalization nodes, for models without normalization; a Dropout node becomes learnable Gaussian dropout (multiplicative, σ0 = sqrt(p/(1−p)) from its rate p unless --sigma0 is given)"},
		&cli.StringFlag{Name: "skip", Usage: "do not inject at the points whose name or op matches `REGEX`"},
		&cli.StringFlag{Name: "norm", Usage: "`NORM` l2: also give the weight of every selected Conv/Gemm/MatMul node a learnable norm ρ (W read as ρ·W/‖W‖; the regularization set moves log ρ; export folds it back into W). E.g. --norm l2 --where Gemm for the classifier head only"},
		&cli.StringFlag{Name: "augment", Usage: "augment the image input with the comma-separated `TRANSFORMS`: translate, rotate, shear, scale"},
		&cli.StringFlag{Name: "augment-init", Usage: "initial magnitudes as `KIND=VALUE` pairs, e.g. rotate=15,translate=3 (pixels, degrees, shear, log-scale; defaults " + defaultMagnitudes() + ")"},
	}
}

func defaultMagnitudes() string {
	var parts []string
	for _, k := range inject.AugmentKinds() {
		v, _ := inject.DefaultMagnitude(k)
		parts = append(parts, fmt.Sprintf("%s=%g", k, v))
	}
	return strings.Join(parts, ",")
}

func runInject(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return errors.New("inject: expected a model file (xreg-onnx inject [flags] model.onnx)")
	case c.NArg() > 1:
		return fmt.Errorf("inject: expected one model file, got %d arguments", c.NArg())
	}
	in := c.Args().First()
	opt, err := injectOptions(c)
	if err != nil {
		return err
	}
	m, err := onnximport.Load(in)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if c.Bool("dry-run") {
		rep, err := inject.Plan(m, opt)
		if err != nil {
			return injectError("inject: "+in, err)
		}
		if err := rep.WriteTable(w); err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "dry run: %s; nothing written\n", summary(rep))
		return err
	}
	out := c.String("output")
	if out == "" {
		out = strings.TrimSuffix(in, filepath.Ext(in)) + ".xreg.onnx"
	}
	if err := checkOutputs(c, "inject", []string{out}, in); err != nil {
		return err
	}
	rep, err := inject.Apply(m, opt)
	if err != nil {
		return injectError("inject: "+in, err)
	}
	if err := m.Save(out); err != nil {
		return fmt.Errorf("inject: %w", err)
	}
	if err := rep.WriteTable(w); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "wrote %s: %s\n", out, summary(rep))
	return err
}

func injectOptions(c *cli.Context) (inject.Options, error) {
	opt := inject.Options{
		Mode: c.String("mode"), Granularity: c.String("granularity"), Placement: c.String("placement"),
		Where: c.String("where"), Skip: c.String("skip"), At: c.String("at"), Norm: c.String("norm"),
	}
	if c.IsSet("sigma0") {
		opt.Sigma0 = c.Float64("sigma0") // unset: the default, or a Dropout point's own rate
	}
	for _, k := range splitList(c.String("augment")) {
		opt.Augment = append(opt.Augment, k)
	}
	for _, kv := range splitList(c.String("augment-init")) {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil {
			return opt, fmt.Errorf("inject: --augment-init %q: want TRANSFORM=VALUE pairs separated by commas, e.g. rotate=15,translate=3", kv)
		}
		if opt.AugmentInit == nil {
			opt.AugmentInit = map[string]float64{}
		}
		opt.AugmentInit[strings.TrimSpace(k)] = f
	}
	return opt, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func summary(rep *inject.Report) string {
	noise, aug, norm := 0, 0, 0
	for _, r := range rep.Regs {
		switch r.Kind {
		case inject.KindNoise:
			noise++
		case inject.KindNorm:
			norm++
		default:
			aug++
		}
	}
	if norm > 0 {
		return fmt.Sprintf("%d noise, %d weight-norm and %d augmentation parameters", noise, norm, aug)
	}
	return fmt.Sprintf("%d noise and %d augmentation parameters", noise, aug)
}

// injectOptionFlags names the flag of every inject.Options field.
var injectOptionFlags = map[string]string{
	"Mode": "mode", "Granularity": "granularity", "Placement": "placement", "Sigma0": "sigma0", "Where": "where",
	"At": "at", "Skip": "skip", "Norm": "norm", "Augment": "augment", "AugmentInit": "augment-init",
}

// injectError maps an *inject.OptionError to the flag that set the field (an *inject.SelectError
// or *inject.NoNormError to the flags it names), after prefix (the
// command and model); other errors pass through.
func injectError(prefix string, err error) error {
	flagName := func(f string) string { return "--" + injectOptionFlags[f] }
	var se *inject.SelectError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %s", prefix, se.Text(flagName))
	}
	var ne *inject.NoNormError
	if errors.As(err, &ne) {
		return fmt.Errorf("%s: %s", prefix, ne.Text(flagName))
	}
	var oe *inject.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	flag, ok := injectOptionFlags[oe.Field]
	if !ok {
		return err
	}
	if s, ok := oe.Value.(string); ok {
		return fmt.Errorf("%s: --%s %q: %w", prefix, flag, s, oe.Err)
	}
	return fmt.Errorf("%s: --%s %v: %w", prefix, flag, oe.Value, oe.Err)
}
