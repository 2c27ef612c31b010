package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/executor"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Metadata keys written by Apply.
const (
	MetadataRegs        = "xreg.export.regs"        // JSON array of Learned
	MetadataMethod      = "xreg.export.method"      // Deterministic, Temperature or MC
	MetadataOutput      = predict.OutputMetadata    // Logits or Probabilities
	MetadataTemperature = "xreg.export.temperature" // T, with method Temperature
	MetadataMC          = "xreg.export.mc"          // K, with method MC
	MetadataSeed        = "xreg.export.seed"        // the seed of the frozen draws, with method MC
	MetadataVersion     = "xreg.export.version"     // Options.Version, when given
	// MetadataTrainRegs is the trainer's record of its regs mode (learn, fixed, off), read by Apply.
	MetadataTrainRegs = "xreg.train.regs"
)

// Export methods.
const (
	Deterministic = "deterministic"
	Temperature   = "temperature"
	MC            = "mc"
)

// What the exported output holds.
const (
	Logits        = predict.Logits
	Probabilities = predict.Probabilities
)

// MCStream is the PCG stream of the frozen Monte-Carlo draws (see the package documentation).
const MCStream = 0x786d_6301

// Options configures Apply. The zero value makes the plain deterministic export.
type Options struct {
	// Temperature, when positive, is folded into the graph: the scores are divided by it.
	Temperature float64
	// Calibration, when not nil, is the data set (the regularization split) on which Apply fits the
	// temperature with onnxruntime and folds it. It excludes Temperature and MC.
	Calibration *dataset.Set
	// MC, when positive, builds the deterministic Monte-Carlo ensemble of MC frozen noise draws.
	// It excludes Temperature and Calibration.
	MC int
	// Seed seeds the frozen draws of MC.
	Seed int64
	// ScoreOutput names the graph output holding the class scores; "" means the only output.
	ScoreOutput string
	// Version is the tool version recorded in MetadataVersion ("" records none).
	Version string
}

// OptionError is an Options field whose value Apply cannot honour: Field names it ("MC",
// "Temperature", …), Value is the value given, With names the field it excludes when both are set
// ("" otherwise), Err says why. The CLI maps the fields to its flags.
type OptionError struct {
	Field string
	Value any
	With  string
	Err   error
}

func (e *OptionError) Error() string {
	if e.With != "" {
		return fmt.Sprintf("Options.%s and Options.%s exclude each other (%v)", e.Field, e.With, e.Err)
	}
	return fmt.Sprintf("Options.%s %v: %v", e.Field, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

// Learned is the trained value of one regularization parameter, as recorded in MetadataRegs.
type Learned struct {
	// Name, Kind, Mode, Granularity, Point and Op are those of the inject.Reg.
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Mode        string `json:"mode"`
	Granularity string `json:"granularity,omitempty"`
	Point       string `json:"point"`
	Op          string `json:"op"`
	// Dims is the parameter's shape.
	Dims []int `json:"dims"`
	// Init is the value inject started from; Value the trained one (log σ for noise, the magnitude
	// for augmentation), row-major. Value and Sigma are empty for a model trained with regs off
	// (metadata xreg.train.regs "off"), which learned no φ and ran without noise.
	Init  float64   `json:"init"`
	Value []float64 `json:"value,omitempty"`
	// Sigma is exp(Value), for noise.
	Sigma []float64 `json:"sigma,omitempty"`
	// DropoutRate is σ²/(1 + σ²) per σ for a Gaussian-dropout point (Op "Dropout"): the dropout
	// rate the learned noise matches (inject.DropoutRate).
	DropoutRate []float64 `json:"dropout_rate,omitempty"`
	// Norm is the learned weight norm ρ = exp(Value) folded into the weight, for norm regs.
	Norm float64 `json:"norm,omitempty"`
}

// Report says what Apply did.
type Report struct {
	// Model is the model's file, "" when it was not read from a file.
	Model string
	// Method is Deterministic, Temperature or MC; Output is Logits or Probabilities.
	Method string
	Output string
	// ScoreOutput is the graph output holding the class scores.
	ScoreOutput string
	// Regs are the learned regularization parameters, in metadata order.
	Regs []Learned
	// Removed are the names of the nodes removed; RemovedInitializers those of the initializers.
	Removed             []string
	RemovedInitializers []string
	// Temperature is the folded temperature (method Temperature); Fitted says it was fitted on
	// Options.Calibration, whose size is CalibrationSize.
	Temperature     float64
	Fitted          bool
	CalibrationSize int
	// MC and Seed describe the ensemble (method MC).
	MC   int
	Seed int64
	// Notes are remarks worth showing to the user (augmentation dropped, a temperature at the edge
	// of the search interval).
	Notes []string
}

// ErrNotInjected is returned (wrapped) for a model that carries no regs metadata (inject's).
var ErrNotInjected = inject.ErrNotInjected

// Apply rewrites the trained model m in place into its export (see the package documentation) and
// reports what it did. On error m is unchanged.
func Apply(m *onnximport.Model, opt Options) (*Report, error) {
	rep, err := apply(m, opt)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", modelName(m), err)
	}
	return rep, nil
}

// apply is Apply; its errors do not name the package and the model.
func apply(m *onnximport.Model, opt Options) (*Report, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	regs, err := readRegs(m)
	if err != nil {
		return nil, err
	}
	rep := &Report{Model: m.Path, Method: Deterministic}
	if rep.Regs, err = learnedValues(m, regs); err != nil {
		return nil, err
	}
	if mode, _ := m.Metadata(MetadataTrainRegs); mode == "off" {
		if opt.MC > 0 {
			return nil, &OptionError{Field: "MC", Value: opt.MC, Err: fmt.Errorf("the model was trained with regs off (%s %q), without noise: there is no learned σ to freeze", MetadataTrainRegs, mode)}
		}
		for i := range rep.Regs {
			rep.Regs[i].Value, rep.Regs[i].Sigma = nil, nil
		}
		rep.Notes = append(rep.Notes, "trained with --regs off: no noise or augmentation was applied, so no σ is recorded")
	}
	ed := m.Edit()
	if err := foldNorms(m, ed, regs); err != nil {
		return nil, err
	}
	if rep.Removed, rep.RemovedInitializers, err = strip(m, ed, regs); err != nil {
		return nil, err
	}
	if names := inferenceForm(m, ed); len(names) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d training-form nodes (BatchNormalization training_mode=1, Dropout with its mask) written in inference form", len(names)))
	}
	det, err := ed.Model()
	if err != nil {
		return nil, fmt.Errorf("the model without its injected nodes does not validate "+
			"(was it edited after injection?): %w", err)
	}
	for _, n := range det.Graph.Nodes {
		if n.OpType == "RandomNormalLike" || n.OpType == "RandomUniformLike" {
			return nil, fmt.Errorf("%v is still in the graph after removing every injected node: "+
				"the export would not be deterministic (is it missing from the %s metadata?)", n, inject.MetadataRegs)
		}
	}
	shapes, shapeErr := det.InferShapes(nil, 1)
	if shapeErr != nil && opt.MC > 0 {
		// onnximport's shape rules cover fewer ops than the executor, which computes every shape
		// when it builds the net (shape subgraphs included): ask it at batch 1.
		if net, err := executor.Build(det, executor.BuildOptions{Batch: 1}); err == nil {
			shapes, shapeErr = net.Shapes, nil
		} else {
			shapeErr = fmt.Errorf("%w (and the executor could not build the model: %v)", shapeErr, err)
		}
	}
	if shapeErr == nil {
		if err := checkShapes(regs, rep.Regs, shapes); err != nil {
			return nil, err
		}
	}
	out, err := scoreOutput(det, opt.ScoreOutput)
	if err != nil {
		return nil, err
	}
	rep.ScoreOutput = out.name
	rep.Output = Logits
	if out.probs {
		rep.Output = Probabilities
	}
	for _, r := range regs {
		if r.Kind == inject.KindAugment {
			rep.Notes = append(rep.Notes, "input augmentation ("+augmentKinds(regs)+") is dropped: test-time augmentation is not exported")
			break
		}
	}

	ed = det.Edit()
	switch {
	case opt.Calibration != nil:
		t, err := fitTemperature(det, out, opt.Calibration)
		if err != nil {
			return nil, fmt.Errorf("fitting the temperature: %w", err)
		}
		rep.Fitted, rep.CalibrationSize = true, opt.Calibration.Len()
		if t <= calib.MinTemperature*(1+1e-6) || t >= calib.MaxTemperature*(1-1e-6) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the fitted temperature %.4g lies at the edge of the search interval [%g, %g]",
				t, calib.MinTemperature, calib.MaxTemperature))
		}
		opt.Temperature = t
		fallthrough
	case opt.Temperature > 0:
		rep.Method, rep.Temperature = Temperature, opt.Temperature
		if err := foldTemperature(ed, out, opt.Temperature); err != nil {
			return nil, err
		}
	case opt.MC > 0:
		if shapeErr != nil {
			return nil, &OptionError{Field: "MC", Value: opt.MC, Err: fmt.Errorf("the ensemble needs static per-example shapes at every noise point: %w", shapeErr)}
		}
		rep.Method, rep.MC, rep.Seed, rep.Output = MC, opt.MC, opt.Seed, Probabilities
		if err := buildMC(ed, det, regs, rep.Regs, shapes, out, opt.MC, opt.Seed); err != nil {
			return nil, &OptionError{Field: "MC", Value: opt.MC, Err: err}
		}
	}

	js, err := json.Marshal(rep.Regs)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	ed.SetMetadata(MetadataRegs, string(js))
	ed.SetMetadata(MetadataMethod, rep.Method)
	ed.SetMetadata(MetadataOutput, rep.Output)
	switch rep.Method {
	case Temperature:
		ed.SetMetadata(MetadataTemperature, strconv.FormatFloat(rep.Temperature, 'g', -1, 64))
	case MC:
		ed.SetMetadata(MetadataMC, strconv.Itoa(rep.MC))
		ed.SetMetadata(MetadataSeed, strconv.FormatInt(rep.Seed, 10))
	}
	if opt.Version != "" {
		ed.SetMetadata(MetadataVersion, opt.Version)
	}
	final, err := ed.Model()
	if err != nil {
		return nil, fmt.Errorf("the exported model does not validate: %w", err)
	}
	m.Replace(final)
	return rep, nil
}

func (o Options) check() error {
	switch {
	case o.MC < 0:
		return &OptionError{Field: "MC", Value: o.MC, Err: errors.New("want a positive number of draws")}
	case o.Temperature < 0 || math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0):
		return &OptionError{Field: "Temperature", Value: o.Temperature, Err: errors.New("want a positive finite number")}
	case o.Temperature > 0 && o.Calibration != nil:
		return errors.New("give a temperature or calibration data to fit one, not both")
	case o.MC > 0 && (o.Temperature > 0 || o.Calibration != nil):
		with := "Temperature"
		if o.Calibration != nil {
			with = "Calibration"
		}
		return &OptionError{Field: "MC", Value: o.MC, With: with,
			Err: errors.New("the ensemble averages probabilities; a temperature scales one pass's logits")}
	}
	if o.Calibration != nil {
		if err := o.Calibration.Validate(); err != nil {
			return fmt.Errorf("calibration data: %w", err)
		}
	}
	return nil
}

// readRegs returns the regs of an injected model, or an error saying why m is not one.
func readRegs(m *onnximport.Model) ([]inject.Reg, error) {
	if _, ok := m.Metadata(inject.MetadataRegs); !ok {
		if method, ok := m.Metadata(MetadataMethod); ok {
			return nil, fmt.Errorf("%w: it is already an export (%s %q); export the trained model instead",
				ErrNotInjected, MetadataMethod, method)
		}
		return nil, fmt.Errorf("%w: it has no %s metadata; export reads the output of `xreg-onnx inject` or `xreg-onnx train`",
			ErrNotInjected, inject.MetadataRegs)
	}
	regs, err := inject.Regs(m)
	if re := (*inject.RegsError)(nil); errors.As(err, &re) {
		return nil, re.Err // Apply names the model
	}
	return regs, err
}

// learnedValues reads every reg's parameter from m and checks it.
func learnedValues(m *onnximport.Model, regs []inject.Reg) ([]Learned, error) {
	out := make([]Learned, len(regs))
	for i, r := range regs {
		t, ok := m.Graph.Initializers[r.Name]
		if !ok {
			return nil, fmt.Errorf("the trained value of %s (%s at %q) is missing: the model has no initializer %q",
				r.Name, r.Kind, r.Point, r.Name)
		}
		if t.DType != onnximport.Float32 || t.Size() == 0 {
			return nil, fmt.Errorf("parameter %s: want float32 values, it holds %d %v values", r.Name, t.Size(), t.DType)
		}
		l := Learned{Name: r.Name, Kind: r.Kind, Mode: r.Mode, Granularity: r.Granularity, Point: r.Point, Op: r.Op,
			Dims: append([]int{}, t.Dims...), Init: r.Init, Value: make([]float64, t.Size())}
		for j, v := range t.Float {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("parameter %s holds %v at element %d (did training diverge?)", r.Name, v, j)
			}
			l.Value[j] = float64(v)
		}
		if r.Kind == inject.KindNoise {
			l.Sigma = make([]float64, len(l.Value))
			for j, v := range l.Value {
				l.Sigma[j] = math.Exp(v)
				if r.Op == "Dropout" {
					l.DropoutRate = append(l.DropoutRate, inject.DropoutRate(l.Sigma[j]))
				}
			}
		}
		switch {
		case r.Kind == inject.KindNorm && t.Size() != 1:
			return nil, fmt.Errorf("parameter %s has shape %v; a weight norm's log ρ has one value (shape drift)", r.Name, t.Dims)
		case r.Kind == inject.KindAugment && t.Size() != 1:
			return nil, fmt.Errorf("parameter %s has shape %v; an augmentation magnitude has one value (shape drift)", r.Name, t.Dims)
		case r.Kind == inject.KindNoise && r.Granularity != inject.Channel && t.Size() != 1:
			return nil, fmt.Errorf("parameter %s has shape %v; a %s-granularity σ has one value (shape drift)", r.Name, t.Dims, r.Granularity)
		}
		if r.Kind == inject.KindNorm {
			l.Norm = math.Exp(l.Value[0])
		}
		out[i] = l
	}
	return out, nil
}

// checkShapes compares the inferred shape of every noise value with the shape inject recorded and
// with its σ.
func checkShapes(regs []inject.Reg, learned []Learned, shapes map[string][]int) error {
	for i, r := range regs {
		if r.Kind != inject.KindNoise {
			continue
		}
		s, ok := shapes[r.Value]
		if !ok {
			continue
		}
		if r.Shape != nil && !compatible(r.Shape[min(1, len(r.Shape)):], s[min(1, len(s)):]) {
			return fmt.Errorf("%s: value %q has per-example shape %v, but %v when injected (shape drift)",
				r.Name, r.Value, s[min(1, len(s)):], r.Shape[min(1, len(r.Shape)):])
		}
		if len(s) == 0 || !broadcasts(learned[i].Dims, s[1:]) {
			return fmt.Errorf("%s: σ of shape %v does not broadcast to value %q of per-example shape %v (shape drift)",
				r.Name, learned[i].Dims, r.Value, s[min(1, len(s)):])
		}
	}
	return nil
}

// compatible reports whether two shapes have the same rank and equal dimensions wherever both are
// known (≥ 0).
func compatible(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}

// broadcasts reports whether a parameter of shape p broadcasts to shape d without growing it
// (numpy rules, aligned on the right).
func broadcasts(p, d []int) bool {
	if len(p) > len(d) {
		for _, v := range p[:len(p)-len(d)] {
			if v != 1 {
				return false
			}
		}
		p = p[len(p)-len(d):]
	}
	off := len(d) - len(p)
	for i, v := range p {
		if v != 1 && v != d[off+i] {
			return false
		}
	}
	return true
}

func augmentKinds(regs []inject.Reg) string {
	var kinds []string
	for _, r := range regs {
		if r.Kind == inject.KindAugment {
			kinds = append(kinds, r.Mode)
		}
	}
	return strings.Join(kinds, ", ")
}

func modelName(m *onnximport.Model) string {
	if m.Path != "" {
		return m.Path
	}
	if n := m.Proto.GetGraph().GetName(); n != "" {
		return fmt.Sprintf("model %q", n)
	}
	return "model"
}
