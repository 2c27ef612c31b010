package main

import (
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/blas"
	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
)

// TestVersionKernels: `version` names the BLAS the binary really selected (internal/blas checks
// that against gorgonia.WhichBLAS), the convolution path of the build and BatchNorm's loops.
func TestVersionKernels(t *testing.T) {
	out, err := command("version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	s := string(out)
	// The kernels line of this build (oneDNN or Go convolutions: default, nodnnl, purego).
	kern := "kernels: " + kernels.Backend()
	for _, want := range []string{"xreg-onnx " + version, "BLAS " + blas.Name, kern, "conv ", "BatchNorm "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
