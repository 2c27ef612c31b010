package xreg

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// weightOptions says which values of an injected model the trainer treats as params besides its
// float initializers (onnximport.Model.Weights): the nodes inject added are never the model's
// weights, and trainable selects more. A weight slot that cannot be trained is refused, naming it:
// training around it would leave it silently unchanged.
func weightOptions(m *onnximport.Model, regs []inject.Reg, trainable string) (onnximport.WeightOptions, error) {
	added := map[string]bool{}
	for _, r := range regs {
		for _, n := range r.Nodes {
			added[n] = true
		}
	}
	opt := onnximport.WeightOptions{Skip: func(n *onnximport.Node) bool { return added[n.Name] }}
	for _, r := range regs {
		if r.Kind == inject.KindNorm {
			opt.Params = append(opt.Params, r.Value) // W under ρ·W/‖W‖: its direction trains
		}
	}
	if trainable != "" {
		re, err := regexp.Compile(trainable)
		if err != nil {
			return opt, fmt.Errorf("trainable %q is not a valid regular expression: %v", trainable, err)
		}
		opt.Select = re
	}
	_, bad, err := m.Weights(opt)
	if err != nil {
		return opt, fmt.Errorf("trainable %q: %w", trainable, err)
	}
	if len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, b := range bad {
			msgs[i] = fmt.Sprintf("%q (%s: %s)", b.Value, b.Use, b.Reason)
		}
		return opt, fmt.Errorf("%d weight(s) cannot be trained, refusing to train around them: %s", len(bad), strings.Join(msgs, "; "))
	}
	return opt, nil
}
