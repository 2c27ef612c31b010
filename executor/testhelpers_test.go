package executor

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/npytest"
	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

// update is the package's one -update flag: tests that own generated files (docs/CONFORMANCE.md)
// rewrite them when it is set. Other test files of the package reuse it rather than defining their
// own, which would panic at start.
var updateGolden = flag.Bool("update", false, "rewrite generated files (docs/CONFORMANCE.md) from this run")

// ciStrict reports whether missing test data or libraries must fail rather than skip: CI
// (environment CI=true) installs them.
func ciStrict() bool { return os.Getenv("CI") == "true" }

// npyRead reads a float32 NumPy array (C order).
func npyRead(path string) (data []float32, shape []int, err error) { return npytest.Read(path) }

// f32Tensor returns a float32 tensor of the given shape over a copy of data (shape () for a scalar).
func f32Tensor(shape []int, data []float32) *tensor.Dense {
	d := append([]float32(nil), data...)
	if len(shape) == 0 {
		return tensor.New(tensor.FromScalar(d[0]))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// tensorFloat32s returns a tensor's elements as float32 (converting float64) in row-major order.
func tensorFloat32s(d *tensor.Dense) ([]float32, error) {
	if d.IsMaterializable() {
		d = d.Materialize().(*tensor.Dense)
	}
	switch x := d.Data().(type) {
	case []float32:
		return x, nil
	case float32:
		return []float32{x}, nil
	case []float64:
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out, nil
	case float64:
		return []float32{float32(x)}, nil
	}
	return nil, fmt.Errorf("tensor of element type %v", d.Dtype())
}

// flatToIndex turns a flat row-major index into a multi-index of shape.
func flatToIndex(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return idx
}

// describe formats a testutil.Compare result for a failure message, with multi-indices of shape.
func describe(m testutil.Mismatch[float32], got, want []float32, shape []int) string {
	s := fmt.Sprintf("max |diff| %.3g at %v (got %g, want %g)", m.MaxAbs, flatToIndex(m.At, shape), m.Got, m.Want)
	if m.Bad > 0 {
		s += fmt.Sprintf("; %d of %d elements out of tolerance, first at %v (got %g, want %g)",
			m.Bad, len(want), flatToIndex(m.FirstBad, shape), got[m.FirstBad], want[m.FirstBad])
	}
	return s
}

// singleLine flattens a message onto one line.
func singleLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// shapesEqual reports whether two shapes are equal.
func shapesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// panicSite says where a panic happened, from a stack trace taken in a deferred recover: the
// innermost frame outside the runtime and the test files, and the innermost frame of this project
// when that is a different one.
func panicSite(stack []byte) string {
	var frames []string
	seenPanic := false
	for _, l := range strings.Split(string(stack), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "panic(") {
			seenPanic = true
			continue
		}
		if !seenPanic || !strings.HasPrefix(l, "/") || strings.Contains(l, "_test.go") || strings.Contains(l, "/src/runtime/") {
			continue
		}
		if i := strings.LastIndex(l, " +0x"); i >= 0 {
			l = l[:i]
		}
		if wd, err := os.Getwd(); err == nil && strings.HasPrefix(l, filepath.Dir(wd)+"/") {
			l = l[len(filepath.Dir(wd))+1:] // the tests run in the package folder, one below the module root
		} else if k := strings.Index(l, "/pkg/mod/"); k >= 0 {
			l = l[k+len("/pkg/mod/"):]
		}
		frames = append(frames, l)
	}
	if len(frames) == 0 {
		return "unknown place"
	}
	for _, f := range frames {
		if !strings.Contains(f, "@") { // a frame of this module, not of a dependency
			if f != frames[0] {
				return frames[0] + ", called from " + f
			}
			break
		}
	}
	return frames[0]
}
