package linear_test

import (
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/xreg/linear"
)

// Cross-regularized ridge on the protocol's synthetic problem beside the 1000-α grid search.
func ExampleCrossL2() {
	tr, rg, _ := linear.RidgeSynthetic(0, 50, 50, 1, true) // signs across groups
	st := linear.FitStandardizer(tr, false)
	trs, rgs := st.Apply(tr), st.Apply(rg)
	grid, err := linear.RidgeGrid(trs, rgs, linear.LogSpace(1e-5, 1e5, 1000))
	if err != nil {
		fmt.Println(err)
		return
	}
	s := linear.DefaultSettings()
	s.Implicit = true
	fit, err := linear.CrossL2(trs, rgs, s)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, g := st.Unstandardize(fit.W), st.Unstandardize(grid.W())
	fmt.Printf("learned norm %.2f, validation MSE %.3f (grid: %.3f)\n", fit.Norm, m.MSE(rg), g.MSE(rg))
	// Output: learned norm 10.11, validation MSE 0.896 (grid: 0.896)
}

// The L1 split of a gradient: the component along sign(w)/‖sign(w)‖ moves the norm, the rest
// keeps it.
func ExampleSplitL1() {
	par, perp := linear.SplitL1([]float64{3, 1, 2}, []float64{0.5, -2, 0})
	fmt.Println(par, perp)
	// Output: [1 -1 0] [2 2 2]
}
