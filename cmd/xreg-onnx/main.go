// Command xreg-onnx fine-tunes ONNX models with cross-regularization: inject learnable noise or
// augmentation into a graph, train model and regularization parameters in one run, and export a
// deterministic ONNX model with a calibration report.
//
// Each sub-command lives in its own file and registers itself in commands from an init function;
// this file only wires them into one urfave/cli application and turns errors into one clear line.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// version is the tool version recorded in exported models' provenance; set with -ldflags at release.
var version = "0.1.0-dev"

// commands is filled by the init functions of the sub-command files.
var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:     "xreg-onnx",
		Usage:    "fine-tune ONNX models with cross-regularization and export calibrated deterministic models",
		Version:  version,
		Commands: commands,
		// Errors are printed once, by main, as a single line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "xreg-onnx: %v\n", err)
		os.Exit(1)
	}
}
