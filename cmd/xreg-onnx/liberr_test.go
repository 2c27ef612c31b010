package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
	"github.com/xreg-onnx/xreg-onnx/xreg"
)

// TestLibraryErrorFlags: the typed errors of inject, preprocess and xreg that no fixture model
// triggers through the CLI are named by their flags, not by the libraries' field names.
func TestLibraryErrorFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  error
		want string
	}{
		{"no normalization", injectError("inject: m.onnx", fmt.Errorf("inject: m: %w", &inject.NoNormError{Looked: "BatchNormalization"})),
			"inject: m.onnx: the model has no normalization node (looked for BatchNormalization); to put noise after other nodes set --at to OP|REGEX (e.g. 'Relu|Dropout'), to inject input augmentation only --augment"},
		{"pre-affine", injectError("inject: m.onnx", fmt.Errorf("inject: m: %w", &inject.OptionError{Field: "Placement", Value: inject.PreAffine, Err: errors.New(`node "bn": the node has no scale input`)})),
			`inject: m.onnx: --placement "pre-affine": node "bn": the node has no scale input`},
		{"resize", preprocessError("train", preprocess.Spec{Resize: -1}.Validate()), "train: --resize -1: want a size > 0 (or 0: no resize step)"},
		{"crop over resize", preprocessError("train", preprocess.Spec{Resize: 4, Crop: 6}.Validate()), "train: --crop 6: is larger than the resize size 4"},
		{"layout", preprocessError("predict", preprocess.Spec{Layout: "chw"}.Validate()), `predict: --layout "chw": want nchw or nhwc`},
		{"reset-head", headError("train", xreg.ResetHead(nil, 1, 0)), "train: --reset-head 1: need at least 2 classes"},
	} {
		if tc.got == nil || tc.got.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, tc.got, tc.want)
		}
	}
}
