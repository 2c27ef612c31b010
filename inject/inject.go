package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Metadata keys written by Apply.
const (
	// MetadataRegs holds the JSON array of Reg.
	MetadataRegs = "xreg.regs"
	// MetadataVersion holds FormatVersion.
	MetadataVersion = "xreg.version"
	// FormatVersion is the version of the MetadataRegs format.
	FormatVersion = "1"
)

// Kinds, modes and granularities of regs.
const (
	KindNoise   = "noise"
	KindAugment = "augment"

	Additive       = "additive"
	Multiplicative = "multiplicative"

	Layer   = "layer"
	Channel = "channel"

	Translate = "translate"
	Rotate    = "rotate"
	Shear     = "shear"
	Scale     = "scale"
)

// DefaultSigma0 is the default initial noise scale σ0 = e^−2 ≈ 0.135 (log σ0 = −2).
const DefaultSigma0 = 0.1353352832366127

// AugmentKinds lists the augmentation transforms in the order Apply composes and reports them.
func AugmentKinds() []string { return []string{Translate, Rotate, Shear, Scale} }

// DefaultMagnitude returns the default initial magnitude of an augmentation transform, in its unit:
// translate 2 pixels, rotate 10 degrees, shear 0.1 (horizontal slope), scale 0.1 (log-scale).
func DefaultMagnitude(kind string) (float64, bool) {
	v, ok := map[string]float64{Translate: 2, Rotate: 10, Shear: 0.1, Scale: 0.1}[kind]
	return v, ok
}

// Options configures Apply and Plan. The zero value injects additive, per-layer noise with
// σ0 = DefaultSigma0 after every normalization point, and no augmentation. A value that cannot be
// honoured is an *OptionError naming the field (the CLI maps it to its flag).
type Options struct {
	// Mode is Additive (default) or Multiplicative.
	Mode string
	// Granularity is Layer (one σ per point, default) or Channel (one σ per channel).
	Granularity string
	// Placement is PostAffine or PreAffine; "" means DefaultPlacement.
	Placement string
	// Sigma0 is the initial σ (> 0); 0 means DefaultSigma0.
	Sigma0 float64
	// Where, when not empty, keeps only the points whose node name or op matches this regular
	// expression; Skip drops those that match it. The op of a decomposed layer norm is
	// "LayerNormalization(decomposed)".
	Where, Skip string
	// At, when not empty, replaces the normalization points by every node whose op type or name
	// matches this regular expression (e.g. "Relu", "Dropout"): noise for models without
	// normalization. A Dropout node becomes Gaussian dropout: multiplicative noise whatever Mode
	// says, σ0 = sqrt(p/(1 − p)) from its ratio p unless Sigma0 is set. Where and Skip still filter.
	At string
	// Augment lists the input augmentation transforms (see AugmentKinds); empty for none.
	Augment []string
	// AugmentInit overrides the initial magnitude of transforms listed in Augment
	// (default DefaultMagnitude).
	AugmentInit map[string]float64
	// Norm, when NormL2, also gives the weight (input 1, a float32 initializer) of every Conv,
	// Gemm and MatMul node a learnable norm (KindNorm). Where and Skip select among these nodes
	// too, by node name or op: --where 'Gemm' puts a norm on the Gemm nodes and no noise.
	Norm string
}

// Reg describes one regularization parameter added to a model: one element of the MetadataRegs
// array.
type Reg struct {
	// Name is the float32 initializer holding the parameter: log σ for noise, the magnitude for
	// augmentation.
	Name string `json:"name"`
	// Kind is KindNoise or KindAugment.
	Kind string `json:"kind"`
	// Mode is Additive or Multiplicative for noise, the transform (Translate, Rotate, Shear, Scale)
	// for augmentation.
	Mode string `json:"mode"`
	// Granularity is Layer or Channel (noise only).
	Granularity string `json:"granularity,omitempty"`
	// Placement is PostAffine or PreAffine (noise only; "" in models injected before placements
	// existed, which were all PostAffine).
	Placement string `json:"placement,omitempty"`
	// Affine is set for a PreAffine point whose normalization node had its affine part moved
	// after the noise (see Affine).
	Affine *Affine `json:"affine,omitempty"`
	// Point is the node after which noise is injected, or the graph input that is augmented.
	Point string `json:"point"`
	// Op is the op of Point ("LayerNormalization(decomposed)" for a spelled-out layer norm;
	// "input" for augmentation).
	Op string `json:"op"`
	// Value is the value that was regularized (Point's output, or the graph input); Output is the
	// value that replaced it for every node that read Value. Removing Nodes and renaming Output
	// back to Value undoes the injection.
	Value  string `json:"value"`
	Output string `json:"output"`
	// Shape is Value's shape where known (-1 for a dynamic dimension); nil when unknown.
	Shape []int `json:"shape,omitempty"`
	// Init is the parameter's initial value (log σ0, or the magnitude).
	Init float64 `json:"init"`
	// Nodes are the names of the nodes added for this reg. The augmentation transforms share their
	// sampling nodes, so each augment reg lists all augmentation nodes.
	Nodes []string `json:"nodes"`
}

// Report is the outcome of Apply or Plan.
type Report struct {
	// Model is the model's file, "" when it was not read from a file.
	Model string
	// Regs are the parameters added, noise points in graph order, then augmentation.
	Regs []Reg
	// Opset is the default-domain opset of the rewritten model; RaisedFrom is the original one when
	// augmentation had to raise it, else 0.
	Opset      int64
	RaisedFrom int64
}

// ErrInjected is returned (wrapped) for a model that already carries regs.
var ErrInjected = errors.New("model is already injected")

// Apply rewrites m in place: it adds the regs that opt asks for, re-validates the model and returns
// what it added. On error m is unchanged.
func Apply(m *onnximport.Model, opt Options) (*Report, error) {
	ed := newEditor(m)
	rep, err := rewrite(m, ed, opt)
	if err != nil {
		return nil, err
	}
	out, err := ed.Model()
	if err != nil {
		return nil, fmt.Errorf("inject: %s: the rewritten model does not validate: %w", modelName(m), err)
	}
	// Keep the file's node list in topological order (the checker and Netron expect it).
	out.SortNodes()
	m.Replace(out)
	return rep, nil
}

// Plan reports what Apply would add, without changing m (a dry run).
func Plan(m *onnximport.Model, opt Options) (*Report, error) {
	return rewrite(m, newEditor(m), opt)
}

// SigmaKey is the name under which σ = exp(log σ) of the noise parameter param is reported (training
// log, epoch statistics, metadata): "xreg.noise.bn1.log_sigma" gives "xreg.noise.bn1.sigma". The
// initializer itself keeps its name: it holds log σ.
func SigmaKey(param string) string {
	return strings.TrimSuffix(param, ".log_sigma") + ".sigma"
}

// ErrNotInjected is returned (wrapped) by Regs for a model whose metadata lists no reg.
var ErrNotInjected = errors.New("model was not injected")

// RegsError is the error of Regs: Err says what is wrong with Model's regs metadata (it wraps
// ErrNotInjected when there is none).
type RegsError struct {
	Model string
	Err   error
}

func (e *RegsError) Error() string { return "inject: " + e.Model + ": " + e.Err.Error() }
func (e *RegsError) Unwrap() error { return e.Err }

// Regs returns the regs recorded in an injected model's metadata, parsed and validated: the one
// reader of MetadataRegs (train and export use it). Errors are *RegsError.
func Regs(m *onnximport.Model) ([]Reg, error) {
	regs, err := decodeRegs(m)
	if err != nil {
		return nil, &RegsError{Model: modelName(m), Err: err}
	}
	return regs, nil
}

func decodeRegs(m *onnximport.Model) ([]Reg, error) {
	s, ok := m.Metadata(MetadataRegs)
	if !ok {
		return nil, fmt.Errorf("%w: it has no %s metadata", ErrNotInjected, MetadataRegs)
	}
	if v, _ := m.Metadata(MetadataVersion); v != FormatVersion {
		return nil, fmt.Errorf("metadata %s is %q; this version reads regs format %q", MetadataVersion, v, FormatVersion)
	}
	var regs []Reg
	if err := json.Unmarshal([]byte(s), &regs); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetadataRegs, err)
	}
	if len(regs) == 0 {
		return nil, fmt.Errorf("%w: its %s metadata lists no regularization parameter", ErrNotInjected, MetadataRegs)
	}
	for i, r := range regs {
		what := fmt.Sprintf("%s entry %d", MetadataRegs, i)
		switch {
		case r.Name == "":
			return nil, fmt.Errorf("%s has no parameter name", what)
		case r.Kind != KindNoise && r.Kind != KindAugment && r.Kind != KindNorm:
			return nil, fmt.Errorf("%s (%s): kind %q is not %s, %s or %s", what, r.Name, r.Kind, KindNoise, KindAugment, KindNorm)
		case r.Kind == KindNorm && r.Mode != NormL2:
			return nil, fmt.Errorf("%s (%s): norm %q is not %s", what, r.Name, r.Mode, NormL2)
		case r.Kind == KindNoise && r.Mode != Additive && r.Mode != Multiplicative:
			return nil, fmt.Errorf("%s (%s): noise mode %q is not %s or %s", what, r.Name, r.Mode, Additive, Multiplicative)
		case r.Kind == KindNoise && r.Placement != "" && r.Placement != PostAffine && r.Placement != PreAffine:
			return nil, fmt.Errorf("%s (%s): placement %q is not %s or %s", what, r.Name, r.Placement, PostAffine, PreAffine)
		case r.Value == "" || r.Output == "":
			return nil, fmt.Errorf("%s (%s): the value or output name is missing", what, r.Name)
		case len(r.Nodes) == 0:
			return nil, fmt.Errorf("%s (%s): lists no added nodes", what, r.Name)
		}
	}
	return regs, nil
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

// OptionError is an Options field whose value Apply and Plan cannot honour: Field names it
// ("Mode", "Sigma0", …), Value is the value given, Err says why. The CLI maps Field to its flag.
type OptionError struct {
	Field string
	Value any
	Err   error
}

func (e *OptionError) Error() string {
	if s, ok := e.Value.(string); ok {
		return fmt.Sprintf("Options.%s %q: %v", e.Field, s, e.Err)
	}
	return fmt.Sprintf("Options.%s %v: %v", e.Field, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

// SelectError says that the Where and Skip patterns select no normalization point (Norm empty)
// or, for Norm, no weight node; Candidates lists what the model has. The CLI names the flags
// through Text.
type SelectError struct {
	Norm, Where, Skip string
	Total             int
	Candidates        string
}

func (e *SelectError) Error() string { return e.Text(func(f string) string { return "Options." + f }) }

// Text is the message with each Options field (Norm, Where, Skip) named by name(field).
func (e *SelectError) Text(name func(field string) string) string {
	if e.Norm != "" {
		return fmt.Sprintf("%s %s: %s %q / %s %q select none of its %d weight nodes (%s)",
			name("Norm"), e.Norm, name("Where"), e.Where, name("Skip"), e.Skip, e.Total, e.Candidates)
	}
	return fmt.Sprintf("%s %q / %s %q select none of its %d points (%s)",
		name("Where"), e.Where, name("Skip"), e.Skip, e.Total, e.Candidates)
}

// NoNormError says that the model has no normalization node (Looked lists the ops looked for) and
// nothing else to inject; its advice names the At and Augment options, the CLI their flags
// through Text.
type NoNormError struct{ Looked string }

func (e *NoNormError) Error() string { return e.Text(func(f string) string { return "Options." + f }) }

// Text is the message with each Options field (At, Augment) named by name(field).
func (e *NoNormError) Text(name func(field string) string) string {
	return fmt.Sprintf("the model has no normalization node (looked for %s); to put noise after other nodes set %s to OP|REGEX (e.g. 'Relu|Dropout'), "+
		"to inject input augmentation only %s", e.Looked, name("At"), name("Augment"))
}

func optionErr(field string, value any, format string, args ...any) error {
	return &OptionError{Field: field, Value: value, Err: fmt.Errorf(format, args...)}
}

// settings are validated Options.
type settings struct {
	mode, gran  string
	placement   string
	logSigma0   float64
	where, skip *regexp.Regexp
	at          *regexp.Regexp
	sigma0Set   bool
	augment     []string
	magnitude   map[string]float64
	norm        string
}

func (o Options) settings() (*settings, error) {
	s := &settings{mode: o.Mode, gran: o.Granularity, magnitude: map[string]float64{}}
	if s.mode == "" {
		s.mode = Additive
	}
	if s.mode != Additive && s.mode != Multiplicative {
		return nil, optionErr("Mode", o.Mode, "is not supported (want %s or %s)", Additive, Multiplicative)
	}
	if s.gran == "" {
		s.gran = Layer
	}
	if s.gran != Layer && s.gran != Channel {
		return nil, optionErr("Granularity", o.Granularity, "is not supported (want %s or %s)", Layer, Channel)
	}
	switch s.placement = o.Placement; s.placement {
	case "":
		s.placement = DefaultPlacement
	case PostAffine, PreAffine:
	default:
		return nil, optionErr("Placement", o.Placement, "is not supported (want %s or %s)", PostAffine, PreAffine)
	}
	sigma0 := o.Sigma0
	s.sigma0Set = sigma0 != 0
	if sigma0 == 0 {
		sigma0 = DefaultSigma0
	}
	if !(sigma0 > 0) || math.IsInf(sigma0, 0) {
		return nil, optionErr("Sigma0", o.Sigma0, "must be a positive finite number")
	}
	s.logSigma0 = math.Log(sigma0)
	var err error
	if o.Where != "" {
		if s.where, err = regexp.Compile(o.Where); err != nil {
			return nil, optionErr("Where", o.Where, "%w", err)
		}
	}
	if o.At != "" {
		if s.at, err = regexp.Compile(o.At); err != nil {
			return nil, optionErr("At", o.At, "%w", err)
		}
	}
	if o.Skip != "" {
		if s.skip, err = regexp.Compile(o.Skip); err != nil {
			return nil, optionErr("Skip", o.Skip, "%w", err)
		}
	}
	switch s.norm = o.Norm; s.norm {
	case "", NormL2:
	case "l1":
		return nil, optionErr("Norm", o.Norm, "is not supported on ONNX weights: the L1 rule splits each gradient along sign(W) and stops weights at zero, which the trainer's Adam step on θ does not do (use `xreg-onnx linear --penalty l1` for linear models)")
	default:
		return nil, optionErr("Norm", o.Norm, "is not supported (want %s)", NormL2)
	}
	for _, k := range o.Augment {
		k = strings.TrimSpace(k)
		if _, ok := DefaultMagnitude(k); !ok {
			return nil, optionErr("Augment", k, "is not supported (want some of %s)", strings.Join(AugmentKinds(), ", "))
		}
		if slices.Contains(s.augment, k) {
			return nil, optionErr("Augment", k, "is listed twice")
		}
		s.augment = append(s.augment, k)
	}
	// Compose in a fixed order whatever the order given.
	slices.SortFunc(s.augment, func(a, b string) int {
		return slices.Index(AugmentKinds(), a) - slices.Index(AugmentKinds(), b)
	})
	for _, k := range s.augment {
		s.magnitude[k], _ = DefaultMagnitude(k)
	}
	for k, v := range o.AugmentInit {
		if _, ok := s.magnitude[k]; !ok {
			return nil, optionErr("AugmentInit", k, "is not among the augmentations %v", s.augment)
		}
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, optionErr("AugmentInit", fmt.Sprintf("%s=%v", k, v), "a magnitude must be a finite number ≥ 0")
		}
		s.magnitude[k] = v
	}
	return s, nil
}

// rewrite analyses m and makes the edits through ed, an editor of m.
func rewrite(m *onnximport.Model, ed *editor, opt Options) (*Report, error) {
	name := modelName(m)
	s, err := opt.settings()
	if err != nil {
		return nil, fmt.Errorf("inject: %s: %w", name, err)
	}
	if err := checkNotInjected(m); err != nil {
		return nil, fmt.Errorf("inject: %s: %w", name, err)
	}
	shapes := m.KnownShapes()
	all := findPoints(m.Graph)
	if s.at != nil {
		if all, err = findAtPoints(m.Graph, s.at); err != nil {
			return nil, fmt.Errorf("inject: %s: %w", name, err)
		}
	}
	var points []*point
	for _, p := range all {
		if s.where != nil && !s.where.MatchString(p.node.Name) && !s.where.MatchString(p.op) {
			continue
		}
		if s.skip != nil && (s.skip.MatchString(p.node.Name) || s.skip.MatchString(p.op)) {
			continue
		}
		points = append(points, p)
	}
	var weights []weightNode
	if s.norm != "" {
		allWeights := findWeights(m.Graph)
		for _, w := range allWeights {
			if s.where != nil && !s.where.MatchString(w.node.Name) && !s.where.MatchString(w.node.OpType) {
				continue
			}
			if s.skip != nil && (s.skip.MatchString(w.node.Name) || s.skip.MatchString(w.node.OpType)) {
				continue
			}
			weights = append(weights, w)
		}
		if len(weights) == 0 {
			return nil, fmt.Errorf("inject: %s: %w", name, &SelectError{Norm: s.norm, Where: opt.Where, Skip: opt.Skip,
				Total: len(allWeights), Candidates: describeWeights(allWeights)})
		}
	}
	switch {
	case len(weights) > 0:
		// The norms alone are something to inject, with or without noise.
	case len(all) == 0 && len(s.augment) == 0:
		return nil, fmt.Errorf("inject: %s: %w", name, &NoNormError{Looked: strings.Join(normOps(), ", ")})
	case len(points) == 0 && len(s.augment) == 0:
		return nil, fmt.Errorf("inject: %s: %w", name, &SelectError{Where: opt.Where, Skip: opt.Skip, Total: len(all), Candidates: describePoints(all)})
	}

	rep := &Report{Model: m.Path, Opset: m.Opset}
	for _, p := range points {
		if p.op == "Dropout" {
			if err := ed.dropoutInferenceForm(p.node); err != nil {
				return nil, fmt.Errorf("inject: %s: %w", name, err)
			}
		}
		reg, err := ed.addNoise(p, s, shapes)
		if err != nil {
			return nil, fmt.Errorf("inject: %s: %w", name, err)
		}
		rep.Regs = append(rep.Regs, *reg)
	}
	for _, w := range weights {
		reg, err := ed.addNorm(w)
		if err != nil {
			return nil, fmt.Errorf("inject: %s: %w", name, err)
		}
		rep.Regs = append(rep.Regs, *reg)
	}
	if len(s.augment) > 0 {
		from, err := raiseOpset(m, ed.Proto())
		if err != nil {
			return nil, fmt.Errorf("inject: %s: %w", name, &OptionError{Field: "Augment", Value: strings.Join(s.augment, ","), Err: err})
		}
		if from != 0 {
			rep.RaisedFrom, rep.Opset = from, augmentOpset
		}
		regs, err := ed.addAugment(s, rep.Opset)
		if err != nil {
			return nil, fmt.Errorf("inject: %s: %w", name, err)
		}
		rep.Regs = append(rep.Regs, regs...)
	}
	if ed.err != nil {
		return nil, fmt.Errorf("inject: %s: %w", name, ed.err)
	}
	js, err := json.Marshal(rep.Regs)
	if err != nil {
		return nil, fmt.Errorf("inject: %s: metadata: %w", name, err)
	}
	ed.SetMetadata(MetadataRegs, string(js))
	ed.SetMetadata(MetadataVersion, FormatVersion)
	return rep, nil
}

// checkNotInjected refuses a model that already carries regs: metadata, or names this package
// gives.
func checkNotInjected(m *onnximport.Model) error {
	if s, ok := m.Metadata(MetadataRegs); ok {
		var regs []Reg
		_ = json.Unmarshal([]byte(s), &regs)
		names := make([]string, 0, len(regs))
		for _, r := range regs {
			names = append(names, r.Name)
		}
		return fmt.Errorf("%w: metadata %s lists %d regularization parameters (%s); inject the original model instead",
			ErrInjected, MetadataRegs, len(regs), shorten(names, 3))
	}
	for _, name := range m.Graph.InitializerNames {
		if strings.HasPrefix(name, "xreg.") {
			return fmt.Errorf("%w: it has initializer %q; inject the original model instead", ErrInjected, name)
		}
	}
	for _, n := range m.Graph.Nodes {
		if strings.HasPrefix(n.Name, "xreg/") {
			return fmt.Errorf("%w: it has %v; inject the original model instead", ErrInjected, n)
		}
	}
	return nil
}

func describePoints(ps []*point) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = fmt.Sprintf("%s %s", p.node.Name, p.op)
	}
	return shorten(names, 4)
}

func shorten(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s, … and %d more", strings.Join(items[:max], ", "), len(items)-max)
}
