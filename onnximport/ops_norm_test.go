package onnximport

import (
	"math"
	"strings"
	"testing"
)

// TestNormOpChecks runs checkNode on InstanceNormalization and GroupNormalization nodes with valid
// and invalid attributes.
func TestNormOpChecks(t *testing.T) {
	f := func(v float32) *Attr { return &Attr{F: v} }
	i := func(v int64) *Attr { return &Attr{I: v} }
	for _, c := range []struct {
		name  string
		op    string
		opset int64
		attrs map[string]*Attr
		want  string // "" for no error, else a substring of the error
	}{
		{"instance defaults", "InstanceNormalization", 11, nil, ""},
		{"instance epsilon", "InstanceNormalization", 13, map[string]*Attr{"epsilon": f(1e-2)}, ""},
		{"instance negative epsilon", "InstanceNormalization", 13, map[string]*Attr{"epsilon": f(-1)}, "epsilon=-1"},
		{"instance NaN epsilon", "InstanceNormalization", 13, map[string]*Attr{"epsilon": f(float32(math.NaN()))}, "epsilon=NaN"},
		{"group opset 18", "GroupNormalization", 18, map[string]*Attr{"num_groups": i(4)}, ""},
		{"group opset 21 stash_type 1", "GroupNormalization", 21, map[string]*Attr{"num_groups": i(4), "stash_type": i(1), "epsilon": f(1e-3)}, ""},
		{"group opset 17", "GroupNormalization", 17, map[string]*Attr{"num_groups": i(4)}, "needs opset ≥ 18"},
		{"group without num_groups", "GroupNormalization", 18, nil, "num_groups is missing"},
		{"group num_groups 0", "GroupNormalization", 18, map[string]*Attr{"num_groups": i(0)}, "num_groups=0"},
		{"group stash_type float16", "GroupNormalization", 21, map[string]*Attr{"num_groups": i(2), "stash_type": i(10)}, "stash_type=10"},
		{"group negative epsilon", "GroupNormalization", 21, map[string]*Attr{"num_groups": i(2), "epsilon": f(-1e-5)}, "epsilon"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := &Node{Name: "n", OpType: c.op, Inputs: []string{"x", "s", "b"}, Outputs: []string{"y"}, Attrs: c.attrs}
			if n.Attrs == nil {
				n.Attrs = map[string]*Attr{}
			}
			for k, a := range n.Attrs {
				a.Name = k
			}
			err := checkNode(n, c.opset)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("no error, want one containing %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}
