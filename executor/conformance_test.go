package executor

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// The ONNX operator conformance tests: every test of Debian's libonnx-testdata whose main graph
// uses an op the executor claims (onnximport.SupportedOps) is run through onnximport → Build → Run
// and its outputs are compared with the test's expected outputs.

// conformanceDir holds the ONNX node tests (Debian package libonnx-testdata); XREG_ONNX_NODE_TESTS
// overrides it.
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// conformanceDoc is the generated table, relative to this package's folder.
const conformanceDoc = "../docs/CONFORMANCE.md"

// The tolerance of ONNX's own backend tests (onnx/backend/test/runner: rtol 1e-3, atol 1e-7, as
// numpy.testing.assert_allclose): |got − want| ≤ atol + rtol·|want| for every element.
const (
	confRTol = 1e-3
	confATol = 1e-7
)

// randomOps have random outputs, which no stored test output can check.
var randomOps = map[string]bool{"RandomNormalLike": true, "RandomUniformLike": true}

// definedAtMinOpset gives, for the claimed ops that existed at opset onnximport.MinOpset (7), the
// opset version whose definition of the op was current at opset 7 (its "since_version", from the
// ONNX operator changelog; onnx 1.12's onnx.defs.get_schema(op, 7).since_version). A test model
// that imports an older opset in which every op of its graph already had that definition means the
// same at opset 7, so the harness runs it at opset 7 (noted in the report).
var definedAtMinOpset = map[string]int64{
	"Abs": 6, "Add": 7, "And": 7, "AveragePool": 7, "BatchNormalization": 7, "Cast": 6, "Ceil": 6, "Clip": 6,
	"Concat": 4, "Constant": 1, "Conv": 1, "Cos": 7, "Div": 7, "Dropout": 7, "Elu": 6, "Equal": 7, "Exp": 6,
	"Flatten": 1, "Floor": 6, "Gather": 1, "Gemm": 7, "GlobalAveragePool": 1, "Greater": 7, "HardSigmoid": 6,
	"Identity": 1, "InstanceNormalization": 6, "LRN": 1, "LeakyRelu": 6, "Less": 7, "Log": 6, "MatMul": 1, "MaxPool": 1,
	"Mul": 7, "Neg": 6, "Not": 1, "Or": 7, "PRelu": 7, "Pad": 2, "Pow": 7, "Reciprocal": 6, "ReduceMean": 1,
	"ReduceSum": 1, "Relu": 6, "Reshape": 5, "Selu": 6, "Shape": 1, "Sigmoid": 6, "Sin": 7, "Slice": 1,
	"Softmax": 1, "Softplus": 1, "Softsign": 1, "Split": 2, "Sqrt": 6, "Squeeze": 1, "Sub": 7, "Tanh": 6,
	"Tile": 6, "Transpose": 1, "Unsqueeze": 1,
}

// otherDTypeOnly lists claimed ops whose every conformance case has data the executor cannot take,
// and where they are checked instead.
var otherDTypeOnly = map[string]string{
	"Einsum": "every case of libonnx-testdata is float64; TestZooOpsORT checks its equations against onnxruntime",
}

// constOnlyOps are claimed for shape arithmetic on build-time constants only (Build folds them);
// the conformance cases feed them data, which Build refuses, so they need no passing case. The
// zoo's vit and swin exports (TestZoo) exercise them (ScatterND: swin's shifted-window mask).
var constOnlyOps = map[string]bool{
	"And": true, "Ceil": true, "Equal": true, "Floor": true, "Greater": true, "GreaterOrEqual": true,
	"Less": true, "LessOrEqual": true, "Mod": true, "Not": true, "Or": true, "Range": true, "ScatterND": true,
}

// noConformanceData lists claimed ops that the installed test data has no case for, and where they
// are checked instead. An op listed here that gains cases fails the test: remove it from the list.
var noConformanceData = map[string]string{
	"GroupNormalization": "an opset-18 op, newer than Debian's libonnx-testdata (onnx 1.12); TestGroupNormalizationORT checks opsets 18 and 21 against onnxruntime",
}

// droppableOutputs lists optional node outputs that the executor does not produce by design
// (onnximport rejects models that use them). When a test declares one as a graph output, the
// harness removes it from the node and the graph and compares the other outputs (noted).
var droppableOutputs = map[string]map[int]string{
	"LayerNormalization": {1: "Mean", 2: "InvStdDev"},
	"Dropout":            {1: "mask"},
	"MaxPool":            {1: "Indices"},
	"BatchNormalization": {1: "running_mean", 2: "running_var"},
}

// confStatus classifies one test case.
type confStatus int

const (
	confPass confStatus = iota
	confFail
	confUnsupported
	confDType
)

func (s confStatus) String() string {
	return [...]string{"passed", "FAILED", "unsupported", "unsupported dtype"}[s]
}

// confCase is one test directory.
type confCase struct {
	Name  string
	Dir   string
	Model *onnxpb.ModelProto
	// Ops are the claimed op types of its main graph, sorted.
	Ops []string
}

// confResult is the outcome of one case.
type confResult struct {
	Case   string
	Status confStatus
	// Reason says why a case is unsupported or failed (one line).
	Reason string
	// Notes say how the harness adapted the case (opset raised, inputs bound, outputs dropped).
	Notes []string
	// MaxAbs is the largest absolute output difference of a case that ran.
	MaxAbs float64
}

func TestConformance(t *testing.T) {
	root := conformanceDir
	if d := os.Getenv("XREG_ONNX_NODE_TESTS"); d != "" {
		root = d
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		msg := fmt.Sprintf("ONNX conformance data not found at %s (Debian package libonnx-testdata; scripts/setup.sh installs it)", root)
		if ciStrict() {
			t.Fatal(msg + "; it is required when CI=true")
		}
		t.Skip(msg)
	}
	claimed := map[string]bool{}
	for _, op := range onnximport.SupportedOps() {
		if !randomOps[op] {
			claimed[op] = true
		}
	}
	cases, err := discoverConfCases(root, claimed)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no test in %s uses a claimed op", root)
	}
	tmp := t.TempDir()
	results := map[string]confResult{}
	byOp := map[string][]string{}
	for _, c := range cases {
		results[c.Name] = runConfCase(c, tmp)
		for _, op := range c.Ops {
			byOp[op] = append(byOp[op], c.Name)
		}
	}

	ops := slices.Sorted(maps.Keys(claimed))
	for _, op := range ops {
		t.Run(op, func(t *testing.T) {
			names := byOp[op]
			if why, ok := noConformanceData[op]; ok {
				if len(names) > 0 {
					t.Fatalf("op %s is listed in noConformanceData, but the data has %d cases for it: remove it from the list", op, len(names))
				}
				t.Skipf("no conformance case for %s: %s", op, why)
			}
			passed := 0
			for _, name := range names {
				r := results[name]
				switch r.Status {
				case confPass:
					passed++
				case confFail:
					t.Errorf("op %s, case %s: %s", op, name, r.Reason)
				}
			}
			if why, ok := otherDTypeOnly[op]; ok && passed == 0 {
				for _, name := range names {
					if results[name].Status != confDType {
						t.Errorf("op %s is in otherDTypeOnly but case %s is %s: remove it from the list", op, name, results[name].Status)
					}
				}
				t.Skipf("op %s: %s", op, why)
			}
			if passed == 0 && constOnlyOps[op] {
				t.Skipf("op %s is supported on build-time constants only; its %d cases feed data", op, len(names))
			}
			if passed == 0 {
				t.Errorf("op %s is claimed (onnximport.SupportedOps) but none of its %d conformance cases passes:%s",
					op, len(names), summarizeNonPassing(names, results))
			}
		})
	}

	var total [4]int
	for _, r := range results {
		total[r.Status]++
	}
	t.Logf("%d test cases use claimed ops: %d passed, %d unsupported, %d unsupported dtype, %d failed",
		len(results), total[confPass], total[confUnsupported], total[confDType], total[confFail])

	doc := conformanceReport(ops, byOp, results)
	if *updateGolden {
		if err := atomicfile.WriteFile(conformanceDoc, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", conformanceDoc)
	} else if old, err := os.ReadFile(conformanceDoc); err != nil || !bytes.Equal(old, doc) {
		// Not a failure: the table also depends on the installed data's version.
		t.Logf("%s is missing or out of date; regenerate it with: go test ./executor -run 'Conformance$' -update", conformanceDoc)
	}
}

// TestConformanceBuilders checks that every claimed op has a Gorgonia builder.
func TestConformanceBuilders(t *testing.T) {
	for _, op := range onnximport.SupportedOps() {
		if _, ok := opBuilders[op]; !ok {
			t.Errorf("op %s is in onnximport.SupportedOps() but has no builder in xreg (register it in opBuilders)", op)
		}
	}
	supported := map[string]bool{}
	for _, op := range onnximport.SupportedOps() {
		supported[op] = true
	}
	for op := range opBuilders {
		if !supported[op] {
			t.Errorf("xreg registers a builder for %s, which onnximport.SupportedOps() does not list (models with it are rejected before Build)", op)
		}
	}
}

// summarizeNonPassing lists why cases did not pass, for the zero-passing failure message.
func summarizeNonPassing(names []string, results map[string]confResult) string {
	var b strings.Builder
	for i, name := range names {
		if i == 8 {
			fmt.Fprintf(&b, "\n\t… and %d more (see docs/CONFORMANCE.md)", len(names)-i)
			break
		}
		r := results[name]
		fmt.Fprintf(&b, "\n\t%s: %s: %s", name, r.Status, r.Reason)
	}
	return b.String()
}

// discoverConfCases reads every test model under root and keeps those whose main graph uses a
// claimed op.
func discoverConfCases(root string, claimed map[string]bool) ([]*confCase, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "test_*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(dirs)
	var cases []*confCase
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var mp onnxpb.ModelProto
		if err := proto.Unmarshal(data, &mp); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		seen := map[string]bool{}
		for _, n := range mp.GetGraph().GetNode() {
			if claimed[n.GetOpType()] && (n.GetDomain() == "" || n.GetDomain() == "ai.onnx") {
				seen[n.GetOpType()] = true
			}
		}
		if len(seen) == 0 {
			continue
		}
		cases = append(cases, &confCase{Name: filepath.Base(dir), Dir: dir, Model: &mp, Ops: slices.Sorted(maps.Keys(seen))})
	}
	return cases, nil
}

// confTensor is one decoded test input or output.
type confTensor struct {
	Name  string
	Proto *onnxpb.TensorProto
	T     *onnximport.Tensor
}

// runConfCase runs one test case; a panic anywhere is a failure.
func runConfCase(c *confCase, tmp string) (r confResult) {
	r = confResult{Case: c.Name}
	defer func() {
		if p := recover(); p != nil {
			r.Status, r.Reason = confFail, singleLine(fmt.Sprintf("panic: %v (at %s)", p, panicSite(debug.Stack())))
		}
	}()
	mp := proto.Clone(c.Model).(*onnxpb.ModelProto)
	g := mp.GetGraph()

	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	var inputs []*onnxpb.ValueInfoProto
	for _, v := range g.GetInput() {
		if !inits[v.GetName()] {
			inputs = append(inputs, v)
		}
	}
	for _, v := range append(slices.Clone(inputs), g.GetOutput()...) {
		if v.GetType().GetTensorType() == nil {
			r.Status, r.Reason = confDType, fmt.Sprintf("graph input or output %q is not a tensor (a sequence, map or optional value)", v.GetName())
			return r
		}
	}
	ins, err := readConfTensors(c.Dir, "input", inputs)
	var outs []confTensor
	if err == nil {
		outs, err = readConfTensors(c.Dir, "output", g.GetOutput())
	}
	if err != nil {
		r.Status, r.Reason = confFail, singleLine("test data: "+err.Error())
		if errors.Is(err, errConfDType) {
			r.Status, r.Reason = confDType, singleLine(err.Error())
		}
		return r
	}
	keep, dropNote := dropOptionalOutputs(g)
	var want []confTensor
	for i, o := range outs {
		if keep[i] {
			want = append(want, o)
		}
	}
	for _, o := range want {
		if o.T.DType != onnximport.Float32 {
			r.Status, r.Reason = confDType, fmt.Sprintf("output %q is %v (the executor computes float32)", o.Name, o.T.DType)
			return r
		}
	}
	for _, in := range ins {
		if in.T.DType == onnximport.Float64 || in.T.DType == onnximport.Float16 {
			r.Status, r.Reason = confDType, fmt.Sprintf("input %q is %v (the executor computes float32)", in.Name, in.T.DType)
			return r
		}
	}
	if note := raiseOpset(mp); note != "" {
		r.Notes = append(r.Notes, note)
	}
	if dropNote != "" {
		r.Notes = append(r.Notes, dropNote)
	}

	// First attempt: float32 inputs are fed at run time; the others (integer shapes, axes,
	// exponents, …), which a float executor cannot take as data, are bound as initializers.
	// Second attempt, if Build rejects the first: every input but the first is bound as an
	// initializer, as exported models carry weights, scales and bounds.
	runtime1 := func(i int, in confTensor) bool { return in.T.DType == onnximport.Float32 }
	runtime2 := func(i int, in confTensor) bool { return i == 0 && in.T.DType == onnximport.Float32 }
	res, buildErr := confAttempt(c, mp, ins, want, runtime1, tmp)
	if buildErr != nil && len(ins) > 1 {
		res2, buildErr2 := confAttempt(c, mp, ins, want, runtime2, tmp)
		if buildErr2 == nil {
			res2.Notes = append(slices.Clone(r.Notes), append([]string{boundNote(ins, runtime2)}, res2.Notes...)...)
			res2.Case = c.Name
			return res2
		}
		if buildErr2.Error() != buildErr.Error() {
			buildErr = fmt.Errorf("%v; with inputs %s bound as initializers: %v", buildErr, boundNames(ins, runtime2), buildErr2)
		}
	}
	if buildErr != nil {
		r.Status, r.Reason = confUnsupported, singleLine(buildErr.Error())
		return r
	}
	res.Case = c.Name
	res.Notes = append(slices.Clone(r.Notes), res.Notes...)
	if note := boundNote(ins, runtime1); note != "" {
		res.Notes = append(res.Notes, note)
	}
	return res
}

// confAttempt binds the inputs that runtime rejects as initializers, loads the model with
// onnximport, builds and runs it. A non-nil error means onnximport or Build rejected the model
// (unsupported); everything after is reported in the result.
func confAttempt(c *confCase, base *onnxpb.ModelProto, ins, want []confTensor, runtime func(int, confTensor) bool, tmp string) (confResult, error) {
	mp := proto.Clone(base).(*onnxpb.ModelProto)
	g := mp.GetGraph()
	bound := map[string]bool{}
	for i, in := range ins {
		if runtime(i, in) {
			continue
		}
		tp := proto.Clone(in.Proto).(*onnxpb.TensorProto)
		tp.Name = proto.String(in.Name)
		g.Initializer = append(g.Initializer, tp)
		bound[in.Name] = true
	}
	g.Input = slices.DeleteFunc(g.Input, func(v *onnxpb.ValueInfoProto) bool { return bound[v.GetName()] })
	data, err := proto.Marshal(mp)
	if err != nil {
		return confResult{}, fmt.Errorf("re-encode model: %w", err)
	}
	path := filepath.Join(tmp, c.Name+".onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return confResult{}, err
	}
	m, err := onnximport.LoadPermissive(path)
	if err != nil {
		return confResult{}, errors.New(strings.ReplaceAll(err.Error(), path+": ", ""))
	}
	if len(m.Unsupported) > 0 {
		return confResult{}, unsupportedSummary(mp, m.Unsupported)
	}
	feeds := map[string]*tensor.Dense{}
	shapes := map[string][]int{}
	for i, in := range ins {
		if runtime(i, in) {
			feeds[in.Name] = f32Tensor(in.T.Dims, in.T.Float)
			shapes[in.Name] = in.T.Dims
		}
	}
	// A training-form BatchNormalization (training_mode=1) is the same layer, whose mode is the
	// net's: the case runs in training mode (batch statistics), as the node asks.
	training := false
	for _, n := range m.Graph.Nodes {
		training = training || (n.OpType == "BatchNormalization" && n.Int("training_mode", 0) != 0)
	}
	net, err := Build(m, BuildOptions{InputShapes: shapes, Training: training})
	if err != nil {
		return confResult{}, err
	}

	res := confResult{Status: confPass}
	if training {
		res.Notes = append(res.Notes, "run in training mode (training_mode=1)")
	}
	got, err := net.Run(feeds, Noise{})
	if err != nil {
		res.Status, res.Reason = confFail, singleLine("run: "+err.Error())
		return res, nil
	}
	var failures []string
	for _, w := range want {
		k := slices.Index(net.OutputNames, w.Name)
		if k < 0 {
			failures = append(failures, fmt.Sprintf("output %q: the net has no such output (outputs %v)", w.Name, net.OutputNames))
			continue
		}
		shape := []int(got[k].Shape())
		if !shapesEqual(shape, w.T.Dims) {
			failures = append(failures, fmt.Sprintf("output %q: shape %v, want %v", w.Name, shape, w.T.Dims))
			continue
		}
		g, err := tensorFloat32s(got[k])
		if err != nil {
			failures = append(failures, fmt.Sprintf("output %q: %v", w.Name, err))
			continue
		}
		d := testutil.Compare(g, w.T.Float, confATol, confRTol)
		res.MaxAbs = max(res.MaxAbs, d.MaxAbs)
		if d.Bad > 0 {
			failures = append(failures, fmt.Sprintf("output %q %v: %s", w.Name, w.T.Dims, describe(d, g, w.T.Float, w.T.Dims)))
		}
	}
	if len(failures) > 0 {
		res.Status, res.Reason = confFail, strings.Join(failures, "; ")
	}
	return res, nil
}

// errConfDType marks test data of an element type the executor cannot take.
var errConfDType = errors.New("unsupported element type")

// readConfTensors reads test_data_set_0/<kind>_<i>.pb for each declared value.
func readConfTensors(dir, kind string, values []*onnxpb.ValueInfoProto) ([]confTensor, error) {
	out := make([]confTensor, len(values))
	for i, v := range values {
		path := filepath.Join(dir, "test_data_set_0", fmt.Sprintf("%s_%d.pb", kind, i))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var tp onnxpb.TensorProto
		if err := proto.Unmarshal(data, &tp); err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, v.GetName(), err)
		}
		t, err := onnximport.DecodeTensor(&tp)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w: %w", kind, v.GetName(), errConfDType, err)
		}
		if t.Size() != len(t.Float)+len(t.Int) {
			return nil, fmt.Errorf("%s %q: %v data of %d elements for dims %v", kind, v.GetName(), t.DType, len(t.Float)+len(t.Int), t.Dims)
		}
		out[i] = confTensor{Name: v.GetName(), Proto: &tp, T: t}
	}
	return out, nil
}

// raiseOpset runs a model of an opset older than onnximport.MinOpset at MinOpset when every op of
// its graph has the same definition there (see definedAtMinOpset), and says so.
func raiseOpset(mp *onnxpb.ModelProto) string {
	var imp *onnxpb.OperatorSetIdProto
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			imp = o
		}
	}
	if imp == nil || imp.GetVersion() >= onnximport.MinOpset {
		return ""
	}
	for _, n := range mp.GetGraph().GetNode() {
		since, ok := definedAtMinOpset[n.GetOpType()]
		if !ok || since > imp.GetVersion() {
			return ""
		}
	}
	old := imp.GetVersion()
	imp.Version = proto.Int64(onnximport.MinOpset)
	return fmt.Sprintf("run at opset %d (file: opset %d; same op definitions)", onnximport.MinOpset, old)
}

// dropOptionalOutputs removes the graph outputs that are droppable optional node outputs (see
// droppableOutputs) and returns which of the original graph outputs remain.
func dropOptionalOutputs(g *onnxpb.GraphProto) (keep []bool, note string) {
	drop := map[string]bool{}
	var names []string
	for _, n := range g.GetNode() {
		d := droppableOutputs[n.GetOpType()]
		for i, out := range n.GetOutput() {
			if _, ok := d[i]; ok && out != "" && isGraphOutput(g, out) && !isConsumed(g, out) {
				drop[out] = true
				names = append(names, out)
				n.Output[i] = ""
			}
		}
		for len(n.Output) > 1 && n.Output[len(n.Output)-1] == "" {
			n.Output = n.Output[:len(n.Output)-1]
		}
	}
	keep = make([]bool, len(g.GetOutput()))
	var kept []*onnxpb.ValueInfoProto
	for i, v := range g.GetOutput() {
		if !drop[v.GetName()] {
			keep[i] = true
			kept = append(kept, v)
		}
	}
	if len(names) == 0 {
		return keep, ""
	}
	g.Output = kept
	return keep, fmt.Sprintf("optional outputs %s not produced by the executor, not compared", strings.Join(names, ", "))
}

func isGraphOutput(g *onnxpb.GraphProto, name string) bool {
	return slices.ContainsFunc(g.GetOutput(), func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name })
}

func isConsumed(g *onnxpb.GraphProto, name string) bool {
	for _, n := range g.GetNode() {
		if slices.Contains(n.GetInput(), name) {
			return true
		}
	}
	return false
}

// unsupportedSummary turns onnximport's list of unsupported nodes into one line: the op types it
// does not know, or else its first message.
func unsupportedSummary(mp *onnxpb.ModelProto, errs []error) error {
	known := map[string]bool{}
	for _, op := range onnximport.SupportedOps() {
		known[op] = true
	}
	foreign := map[string]bool{}
	for _, n := range mp.GetGraph().GetNode() {
		if !known[n.GetOpType()] {
			foreign[n.GetOpType()] = true
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("onnximport: ops not supported: %s", strings.Join(slices.Sorted(maps.Keys(foreign)), ", "))
	}
	msg := errs[0].Error()
	if i := strings.Index(msg, " (supported: "); i >= 0 {
		msg = msg[:i]
	}
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return errors.New("onnximport: " + singleLine(msg))
}

func boundNames(ins []confTensor, runtime func(int, confTensor) bool) string {
	var names []string
	for i, in := range ins {
		if !runtime(i, in) {
			names = append(names, in.Name)
		}
	}
	return strings.Join(names, ", ")
}

func boundNote(ins []confTensor, runtime func(int, confTensor) bool) string {
	if s := boundNames(ins, runtime); s != "" {
		return "inputs " + s + " bound as initializers"
	}
	return ""
}

// conformanceReport renders docs/CONFORMANCE.md.
func conformanceReport(ops []string, byOp map[string][]string, results map[string]confResult) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# ONNX operator conformance

Generated by `+"`go test ./executor -run 'Conformance$' -update`"+`; do not edit by hand.

The executor (package xreg) is run on the official ONNX operator tests shipped by Debian's
libonnx-testdata (%s/test_*/, test_data_set_0). For every op that
onnximport.SupportedOps() claims (except RandomNormalLike and RandomUniformLike, whose outputs are
random), every test whose main graph contains the op is loaded with onnximport, built with
executor.Build (input shapes from the test data) and run once; each output must satisfy
|got − want| ≤ 1e-7 + 1e-3·|want| element-wise (ONNX's backend-test tolerance: rtol 1e-3,
atol 1e-7). A test counts for every claimed op its graph contains, so the "expanded" function tests
(an op spelled out in primitive ops) appear under each primitive they use.

- **passed**: every compared output is within tolerance.
- **unsupported**: onnximport or executor.Build rejects the model with a one-line error (recorded);
  allowed.
- **unsupported dtype**: the test's inputs or outputs are not float32 (integer, boolean, double)
  or not tensors; recorded.
- **failed**: the model builds but the numbers differ, the run fails, or something panics; the test
  fails.

How the harness adapts a test before running it (listed per case as notes): float32 inputs are fed
at run time and other inputs (integer shapes, axes, exponents) are bound as initializers; when
Build rejects that, every input but the first is bound as an initializer (weights, scales, bounds,
as exported models carry them); optional outputs the executor does not produce (LayerNormalization
Mean/InvStdDev, Dropout mask, MaxPool Indices, BatchNormalization running statistics) are removed
and not compared; a model of an opset
below %d whose ops are defined there as in its own opset is run at opset %d.

## Summary

The last column is the largest absolute difference from the expected outputs over the passing
cases.

| op | cases | passed | unsupported | unsupported dtype | failed | max abs diff (passed) |
|---|---:|---:|---:|---:|---:|---:|
`, conformanceDir, onnximport.MinOpset, onnximport.MinOpset)
	var total [4]int
	for _, op := range ops {
		var n [4]int
		worst := "–"
		maxAbs := -1.0
		for _, name := range byOp[op] {
			r := results[name]
			n[r.Status]++
			if r.Status == confPass && r.MaxAbs > maxAbs {
				maxAbs = r.MaxAbs
				worst = "0"
				if r.MaxAbs > 0 {
					worst = fmt.Sprintf("%.1e", r.MaxAbs)
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s |\n", op, len(byOp[op]), n[confPass], n[confUnsupported], n[confDType], n[confFail], worst)
	}
	for _, r := range results {
		total[r.Status]++
	}
	fmt.Fprintf(&b, "\nDistinct test cases: %d (%d passed, %d unsupported, %d unsupported dtype, %d failed).\n",
		len(results), total[confPass], total[confUnsupported], total[confDType], total[confFail])

	b.WriteString("\n## Cases by op\n")
	for _, op := range ops {
		names := byOp[op]
		fmt.Fprintf(&b, "\n### %s\n\n", op)
		if len(names) == 0 {
			b.WriteString("No test uses this op.\n")
			continue
		}
		for _, st := range []confStatus{confFail, confPass, confUnsupported, confDType} {
			// Group the cases of one status by reason and notes.
			groups := map[string][]string{}
			var keys []string
			for _, name := range names {
				r := results[name]
				if r.Status != st {
					continue
				}
				key := r.Reason
				if len(r.Notes) > 0 {
					if key != "" {
						key += "; "
					}
					key += strings.Join(r.Notes, "; ")
				}
				if st == confFail {
					key = r.Reason // failures are listed one by one below
				}
				if _, ok := groups[key]; !ok {
					keys = append(keys, key)
				}
				groups[key] = append(groups[key], name)
			}
			sort.Strings(keys)
			for _, key := range keys {
				cs := groups[key]
				if st == confFail {
					for _, c := range cs {
						fmt.Fprintf(&b, "- **FAILED** `%s`: %s\n", c, mdEscape(key))
					}
					continue
				}
				fmt.Fprintf(&b, "- %s (%d)", st, len(cs))
				if key != "" {
					fmt.Fprintf(&b, " — %s", mdEscape(key))
				}
				fmt.Fprintf(&b, ": %s\n", "`"+strings.Join(cs, "`, `")+"`")
			}
		}
	}
	return b.Bytes()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestFlatToIndex checks the harness's index conversion.
func TestFlatToIndex(t *testing.T) {
	if got := flatToIndex(23, []int{2, 3, 4}); !shapesEqual(got, []int{1, 2, 3}) {
		t.Errorf("flatToIndex(23, [2 3 4]) = %v, want [1 2 3]", got)
	}
}
