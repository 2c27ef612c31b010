package finetune

import (
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
)

func TestRecommend(t *testing.T) {
	model := func(name string, regNLL, testNLL float64) calib.Model {
		return calib.Model{Name: name, Selection: &calib.Metrics{NLL: regNLL}, Metrics: &calib.Metrics{NLL: testNLL}}
	}
	for _, tc := range []struct {
		name   string
		models []calib.Model
		tol    float64
		want   string
		reason string
	}{
		{"clear winner", []calib.Model{model("original", 0.9, 0.9), model("plain", 0.5, 0.5), model("xreg", 0.4, 0.45)}, 0.005, "xreg",
			"lowest NLL on the regularization set (0.4000); the next best, plain, has 0.5000 (+0.1000"},
		{"simpler within tolerance", []calib.Model{model("original", 0.9, 0.9), model("plain", 0.404, 0.41), model("xreg", 0.4, 0.39)}, 0.005, "plain",
			"within 0.005 of the lowest, xreg's 0.4000 (+0.0040)"},
		{"just outside tolerance", []calib.Model{model("plain", 0.4051, 0.41), model("xreg", 0.4, 0.39)}, 0.005, "xreg", "the next best, plain"},
		{"zero tolerance takes the lowest", []calib.Model{model("plain", 0.4001, 0.41), model("xreg", 0.4, 0.39)}, 0, "xreg", "more than the tolerance 0)"},
		{"test agrees", []calib.Model{model("plain", 0.5, 0.5), model("xreg", 0.4, 0.39)}, 0.005, "xreg", "lowest NLL too (0.3900"},
		{"no selection metrics", []calib.Model{{Name: "a", Metrics: &calib.Metrics{}}, {Name: "b", Metrics: &calib.Metrics{}}}, 0.005, "a", "nothing to choose by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := Recommend(tc.models, tc.tol)
			if rec.Model != tc.want || !strings.Contains(rec.Reason, tc.reason) {
				t.Errorf("Recommend = %q (%s), want %q with %q", rec.Model, rec.Reason, tc.want, tc.reason)
			}
		})
	}
}
