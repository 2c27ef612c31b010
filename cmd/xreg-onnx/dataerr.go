package main

import (
	"errors"
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/dataset"
)

// dataError maps a *dataset.OptionError to the command's flags: a missing labels file names
// labelsFlag (--labels, --reg-labels); the .npz array keys have no flag (the CLI reads the arrays
// x and y); the shape and classes come from the model. Other errors pass through.
func dataError(err error, labelsFlag string) error {
	var oe *dataset.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	switch oe.Field {
	case "Labels":
		return fmt.Errorf("%s: %s; give the labels file with --%s", oe.Path, oe.Reason, labelsFlag)
	case "XKey", "YKey":
		return fmt.Errorf("%s: %s; the command reads the arrays x and y", oe.Path, oe.Reason)
	case "Shape":
		return fmt.Errorf("%s: %s; the expected shape is the model's input", oe.Path, oe.Reason)
	case "Classes":
		return fmt.Errorf("%s: %s; the expected number is the model's classes", oe.Path, oe.Reason)
	case "ChannelsLast":
		return fmt.Errorf("%s: %s to channels-first (the command does not)", oe.Path, oe.Reason)
	}
	return err
}
