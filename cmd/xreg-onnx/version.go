package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

// moduleVersion is the version `go install …@version` recorded in the binary (a release tag or a
// pseudo-version), and otherwise the tool's own version string.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func init() {
	commands = append(commands, &cli.Command{
		Name:  "version",
		Usage: "print the module version, the Go version, which training kernels this binary has (oneDNN/OpenBLAS or pure Go) and the onnxruntime it finds",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("version: takes no arguments, got %d", c.NArg())
			}
			if _, err := fmt.Fprintf(c.App.Writer, "xreg-onnx %s (%s, %s/%s)\nkernels: %s\n", moduleVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernels.Backend()); err != nil {
				return err
			}
			// onnxruntime is optional for training; say what was found, or how to get it.
			if err := ort.Available(); err != nil {
				_, err = fmt.Fprintf(c.App.Writer, "onnxruntime: not found (run xreg-onnx setup)\n")
				return err
			}
			_, err := fmt.Fprintf(c.App.Writer, "onnxruntime: %s (%s)\n", ort.Version(), ort.LibraryPath())
			return err
		},
	})
}
