package onnximport

import (
	"fmt"
	"math"
)

// checkEpsilon rejects a negative, infinite or NaN epsilon attribute.
func checkEpsilon(n *Node) error {
	if e := float64(n.Float("epsilon", 1e-5)); !(e >= 0) || math.IsInf(e, 0) {
		return fmt.Errorf("attribute epsilon=%g must be a finite value ≥ 0", e)
	}
	return nil
}

// checkInstanceNorm checks an InstanceNormalization (opset 6: per-channel scale and B).
func checkInstanceNorm(n *Node, _ int64) error {
	return checkEpsilon(n)
}

// checkGroupNorm checks a GroupNormalization: num_groups is required (opset 18: scale and bias
// hold one value per group; opset 21: one per channel; their shapes are checked when the graph is
// built), and stash_type may only ask for float32 statistics, its default (the executor
// accumulates them in float64).
func checkGroupNorm(n *Node, _ int64) error {
	if err := checkEpsilon(n); err != nil {
		return err
	}
	if !n.Has("num_groups") {
		return fmt.Errorf("required attribute num_groups is missing")
	}
	if g := n.Int("num_groups", 0); g <= 0 {
		return fmt.Errorf("attribute num_groups=%d must be ≥ 1", g)
	}
	if st := n.Int("stash_type", 1); st != 1 {
		return fmt.Errorf("attribute stash_type=%d is not supported (1, float32, is)", st)
	}
	return nil
}
