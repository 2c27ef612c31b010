package finetune

import (
	"fmt"
	"math"

	"github.com/xreg-onnx/xreg-onnx/calib"
)

// Rule states the recommendation rule for a tolerance, as the report prints it.
func Rule(tolerance float64) string {
	return fmt.Sprintf("among the models in the order listed (simplest first: original, then plain fine-tuning, "+
		"grid search, cross-regularization; a fitted temperature after the model it calibrates; a Monte-Carlo "+
		"ensemble last), ship the first whose NLL on the regularization set is within %g of the lowest. "+
		"The test data plays no part in the choice.", tolerance)
}

// Recommend applies Rule to models (in the report's order, each with Selection metrics): the
// first model whose selection NLL is at most the lowest plus tolerance. Models without Selection
// metrics are not candidates; with none at all, the first model is returned with a reason saying
// so.
func Recommend(models []calib.Model, tolerance float64) calib.Recommendation {
	rec := calib.Recommendation{Rule: Rule(tolerance)}
	best := -1
	for i, m := range models {
		if m.Selection != nil && (best < 0 || m.Selection.NLL < models[best].Selection.NLL) {
			best = i
		}
	}
	if best < 0 {
		rec.Model, rec.Reason = models[0].Name, "no model has regularization-set metrics; nothing to choose by"
		return rec
	}
	lowest := models[best].Selection.NLL
	ship := best
	for i, m := range models {
		if m.Selection != nil && m.Selection.NLL <= lowest+tolerance {
			ship = i
			break
		}
	}
	s := models[ship]
	rec.Model = s.Name
	if ship == best {
		// The runner-up, to say by how much it lost.
		second := -1
		for i, m := range models {
			if i != best && m.Selection != nil && (second < 0 || m.Selection.NLL < models[second].Selection.NLL) {
				second = i
			}
		}
		rec.Reason = fmt.Sprintf("It has the lowest NLL on the regularization set (%.4f)", lowest)
		if second >= 0 {
			o := models[second]
			rec.Reason += fmt.Sprintf("; the next best, %s, has %.4f (+%.4f, more than the tolerance %g)", o.Name, o.Selection.NLL, o.Selection.NLL-lowest, tolerance)
		}
		rec.Reason += "."
	} else {
		b := models[best]
		rec.Reason = fmt.Sprintf("Its NLL on the regularization set (%.4f) is within %g of the lowest, %s's %.4f (+%.4f), and it comes first in the order of simplicity.",
			s.Selection.NLL, tolerance, b.Name, lowest, s.Selection.NLL-lowest)
	}
	// What the test data says about the choice.
	if s.Metrics != nil {
		bt := 0
		for i, m := range models {
			if m.Metrics != nil && m.Metrics.NLL < models[bt].Metrics.NLL {
				bt = i
			}
		}
		t := models[bt]
		if bt == ship {
			rec.Reason += fmt.Sprintf(" On the test data it has the lowest NLL too (%.4f; accuracy %.4f, ECE %.4f).", s.Metrics.NLL, s.Metrics.Accuracy, s.Metrics.ECE)
		} else {
			rec.Reason += fmt.Sprintf(" On the test data its NLL is %.4f (accuracy %.4f, ECE %.4f); the lowest there is %s's %.4f (%.4f apart).",
				s.Metrics.NLL, s.Metrics.Accuracy, s.Metrics.ECE, t.Name, t.Metrics.NLL, math.Abs(s.Metrics.NLL-t.Metrics.NLL))
		}
	}
	return rec
}
