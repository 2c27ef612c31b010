package onnximport

import (
	"fmt"
	"sort"
	"strings"
)

// opSpec says from which default-domain opset an op is supported and checks its attributes.
type opSpec struct {
	since int64
	check func(n *Node, opset int64) error
}

// ops lists every op the executor supports. It is the single source of truth used by validation,
// `inspect` and the conformance tests.
var ops = map[string]opSpec{
	"Add": {since: 7}, "Sub": {since: 7}, "Mul": {since: 7}, "Div": {since: 7}, "Pow": {since: 7},
	"Sqrt": {since: 6}, "Exp": {since: 6}, "Relu": {since: 6}, "Sigmoid": {since: 6}, "Tanh": {since: 6},
	"Identity": {since: 1}, "MatMul": {since: 1}, "GlobalAveragePool": {since: 1},
	"Clip":               {since: 6},
	"Gemm":               {since: 7},
	"Flatten":            {since: 1},
	"Concat":             {since: 4},
	"Softmax":            {since: 1},
	"Transpose":          {since: 1},
	"Reshape":            {since: 5, check: checkReshape},
	"Constant":           {since: 1, check: checkConstant},
	"ReduceMean":         {since: 1, check: checkReduceMean},
	"Conv":               {since: 1, check: checkConvLike},
	"MaxPool":            {since: 1, check: checkMaxPool},
	"AveragePool":        {since: 1, check: checkConvLike},
	"BatchNormalization": {since: 7, check: checkBatchNorm},
	"LayerNormalization": {since: 17, check: checkExtraOutputs(1, "Mean and InvStdDev")},
	"Dropout":            {since: 1},                     // the mask output of the training form is accepted, unread
	"Resize":             {since: 7, check: checkResize}, // Upsample (7–9) and Resize-10 are adapted

	"RandomNormalLike":  {since: 1},
	"RandomUniformLike": {since: 1},
	// Sin, Cos and GridSample are emitted by inject's input augmentation (rotation and bilinear
	// resampling); the trainer has builders for them.
	"Sin":        {since: 7},
	"Cos":        {since: 7},
	"GridSample": {since: 16, check: checkGridSample},
	// Shape arithmetic, folded at build time (shapes are static per batch), and data movement.
	"Shape": {since: 1}, "Size": {since: 1}, "Gather": {since: 1}, "Unsqueeze": {since: 1}, "Squeeze": {since: 1},
	"Slice": {since: 1}, "Cast": {since: 6}, "ConstantOfShape": {since: 9}, "Expand": {since: 8},
	"Where": {since: 9}, "Tile": {since: 6}, "Split": {since: 2}, "Range": {since: 11},
	"Pad":   {since: 2, check: checkPad},
	"Equal": {since: 7}, "Less": {since: 7}, "Greater": {since: 7}, "LessOrEqual": {since: 12},
	"GreaterOrEqual": {since: 12}, "Not": {since: 1}, "And": {since: 7}, "Or": {since: 7},
	"Mod": {since: 10}, "Floor": {since: 6}, "Ceil": {since: 6}, "ScatterND": {since: 11},
	// Activations and arithmetic of other exporters (paddle2onnx, tf2onnx) and of GELU/HardSwish.
	"Erf": {since: 9}, "Neg": {since: 6}, "Abs": {since: 6}, "Reciprocal": {since: 6}, "Log": {since: 6},
	"Softplus": {since: 1}, "Softsign": {since: 1}, "LeakyRelu": {since: 6}, "Elu": {since: 6},
	"Selu": {since: 6}, "HardSigmoid": {since: 6}, "HardSwish": {since: 14},
	"PRelu": {since: 7}, "Max": {since: 8}, "Min": {since: 8}, "Sum": {since: 8},
	"ReduceSum": {since: 1}, "ReduceMax": {since: 1}, "ReduceMin": {since: 1}, "LRN": {since: 1}, "Einsum": {since: 12},
	// Instance and group normalization (ops_norm.go).
	"InstanceNormalization": {since: 6, check: checkInstanceNorm},
	"GroupNormalization":    {since: 18, check: checkGroupNorm},
}

// SupportedOps returns the supported op types, sorted.
func SupportedOps() []string {
	out := make([]string, 0, len(ops))
	for k := range ops {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkNode validates one node against the supported op set.
func checkNode(n *Node, opset int64) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("%v: domain %q is not supported (only the default ONNX domain is)", n, n.Domain)
	}
	spec, ok := ops[n.OpType]
	if !ok {
		return fmt.Errorf("%v: op %s is not supported (supported: %s)", n, n.OpType, strings.Join(SupportedOps(), ", "))
	}
	if opset < spec.since {
		return fmt.Errorf("%v: op %s needs opset ≥ %d, the model imports opset %d", n, n.OpType, spec.since, opset)
	}
	if len(n.Outputs) == 0 {
		return fmt.Errorf("%v: has no outputs", n)
	}
	if spec.check != nil {
		if err := spec.check(n, opset); err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	return nil
}

func oneOf(attr, got string, allowed ...string) error {
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	return fmt.Errorf("attribute %s=%q is not supported (want one of %s)", attr, got, strings.Join(allowed, ", "))
}

func checkExtraOutputs(keep int, what string) func(*Node, int64) error {
	return func(n *Node, _ int64) error {
		for i := keep; i < len(n.Outputs); i++ {
			if n.Outputs[i] != "" {
				return fmt.Errorf("optional output %d (%s) is used, which is not supported", i, what)
			}
		}
		return nil
	}
}

func checkConvLike(n *Node, _ int64) error {
	if err := oneOf("auto_pad", n.Str("auto_pad", "NOTSET"), "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"); err != nil {
		return err
	}
	if ks := n.Ints("kernel_shape", nil); len(ks) > 2 {
		return fmt.Errorf("%d-D kernels are not supported (1-D and 2-D are)", len(ks))
	}
	return checkWindow(n)
}

func checkMaxPool(n *Node, opset int64) error {
	if err := checkConvLike(n, opset); err != nil {
		return err
	}
	if n.Int("storage_order", 0) != 0 {
		return fmt.Errorf("attribute storage_order=1 is not supported")
	}
	return checkExtraOutputs(1, "Indices")(n, opset)
}

// checkBatchNorm accepts the training form (training_mode=1, the running-statistics outputs that
// torch writes for a module exported in train()): the node is the same layer, whose mode the
// trainer switches itself; nothing may read the extra outputs.
func checkBatchNorm(n *Node, opset int64) error { return nil }

func checkReshape(n *Node, _ int64) error { return nil }

func checkConstant(n *Node, _ int64) error {
	for _, a := range []string{"sparse_value", "value_string", "value_strings"} {
		if n.Has(a) {
			return fmt.Errorf("attribute %s is not supported", a)
		}
	}
	_, err := constantValue(n)
	return err
}

func checkReduceMean(n *Node, opset int64) error { return nil }

func checkResize(n *Node, _ int64) error {
	if err := oneOf("mode", n.Str("mode", "nearest"), "nearest"); err != nil {
		return err
	}
	if err := oneOf("coordinate_transformation_mode", n.Str("coordinate_transformation_mode", "half_pixel"),
		"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"); err != nil {
		return err
	}
	if err := oneOf("nearest_mode", n.Str("nearest_mode", "round_prefer_floor"),
		"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"); err != nil {
		return err
	}
	if n.Int("antialias", 0) != 0 {
		return fmt.Errorf("attribute antialias=1 is not supported")
	}
	if n.Has("axes") {
		return fmt.Errorf("attribute axes is not supported")
	}
	if p := n.Str("keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return fmt.Errorf("attribute keep_aspect_ratio_policy=%q is not supported (stretch is)", p)
	}
	return nil
}

func checkGridSample(n *Node, opset int64) error {
	// Opset 20 renamed the bilinear mode "linear" (and allowed N-D inputs).
	if opset >= 20 {
		if err := oneOf("mode", n.Str("mode", "linear"), "linear"); err != nil {
			return err
		}
	} else if err := oneOf("mode", n.Str("mode", "bilinear"), "bilinear"); err != nil {
		return err
	}
	return oneOf("padding_mode", n.Str("padding_mode", "zeros"), "zeros")
}

func checkPad(n *Node, _ int64) error {
	return oneOf("mode", n.Str("mode", "constant"), "constant", "reflect", "edge")
}
