package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "version",
		Usage: "print the tool version, the Go version and which training kernels this binary has (oneDNN/OpenBLAS or pure Go)",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return fmt.Errorf("version: takes no arguments, got %d", c.NArg())
			}
			_, err := fmt.Fprintf(c.App.Writer, "xreg-onnx %s (%s, %s/%s)\nkernels: %s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, kernels.Backend())
			return err
		},
	})
}
