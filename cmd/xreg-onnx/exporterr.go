package main

import (
	"errors"
	"fmt"

	"github.com/xreg-onnx/xreg-onnx/export"
)

// exportOptionFlags maps export.Options fields to the export command's flags: the CLI's
// --temperature fits the temperature on --reg-data (Options.Calibration).
var exportOptionFlags = map[string]string{"MC": "mc", "Temperature": "temperature", "Calibration": "temperature"}

// exportError maps an *export.OptionError to the flags that set its fields, after prefix (the
// command and model); other errors pass through.
func exportError(prefix string, err error) error {
	return exportErrorFlags(prefix, err, exportOptionFlags)
}

// exportErrorFlags is exportError with another command's map from export.Options fields to flags.
func exportErrorFlags(prefix string, err error, flags map[string]string) error {
	var oe *export.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	flag, ok := flags[oe.Field]
	if !ok {
		return err
	}
	if oe.With != "" {
		with, ok := flags[oe.With]
		if !ok {
			return err
		}
		return fmt.Errorf("%s: --%s and --%s exclude each other (%w)", prefix, flag, with, oe.Err)
	}
	return fmt.Errorf("%s: --%s %v: %w", prefix, flag, oe.Value, oe.Err)
}
