package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
)

// The one overwrite policy of every command that writes files (inject, train, export, report,
// checkpoints): see internal/atomicfile. An input is never overwritten, an existing output is
// replaced only with --force, and a run that fails or is interrupted leaves no temporary, partial
// or empty file behind.

// forceFlag is the --force flag of every command that writes files.
func forceFlag() cli.Flag {
	return &cli.BoolFlag{Name: "force", Usage: "replace existing output files (an input is never overwritten, even with --force)"}
}

// checkOutputs applies the overwrite policy before cmd writes anything: outputs must not be any
// of inputs, nor each other, and must not exist unless --force. Errors name the file and the flag.
func checkOutputs(c *cli.Context, cmd string, outputs []string, inputs ...string) error {
	return checkOutputsOf(c, cmd, "--output", outputs, inputs...)
}

// checkOutputsOf is checkOutputs for outputs named by another flag than --output.
func checkOutputsOf(c *cli.Context, cmd, flag string, outputs []string, inputs ...string) error {
	err := atomicfile.CheckOutputs(outputs, inputs, c.Bool("force"))
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "atomicfile: ")
	switch {
	case errors.Is(err, atomicfile.ErrExists):
		return fmt.Errorf("%s: %s; pass --force to replace it, or choose another file with %s", cmd, msg, flag)
	case errors.Is(err, atomicfile.ErrIsInput):
		return fmt.Errorf("%s: %s; choose another file with %s", cmd, msg, flag)
	}
	return fmt.Errorf("%s: %s", cmd, msg)
}

// reportOutputs returns the files a report in dir on these models writes.
func reportOutputs(dir string, names []string, trajectory bool) []string {
	files := calib.ReportFiles(names, trajectory)
	for i, f := range files {
		files[i] = filepath.Join(dir, f)
	}
	return files
}

// onInterrupt holds what to undo when SIGINT or SIGTERM stops a command (besides the temporary
// files atomicfile removes itself).
var (
	interruptMu sync.Mutex
	onInterrupt []func()
)

// atInterrupt registers f to run if the command is interrupted; the returned function
// unregisters it.
func atInterrupt(f func()) (cancel func()) {
	interruptMu.Lock()
	defer interruptMu.Unlock()
	onInterrupt = append(onInterrupt, f)
	i := len(onInterrupt) - 1
	return func() {
		interruptMu.Lock()
		defer interruptMu.Unlock()
		onInterrupt[i] = nil
	}
}

// trapSignals makes SIGINT and SIGTERM remove the temporary files of writes in flight and run
// the atInterrupt hooks, then exit with 128 + the signal number, as a shell reports it. serve
// handles its own signals (a graceful stop) and does not call it.
func trapSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		atomicfile.Cleanup()
		interruptMu.Lock()
		for _, f := range onInterrupt {
			if f != nil {
				f()
			}
		}
		fmt.Fprintf(os.Stderr, "xreg-onnx: interrupted (%v); no partial output was left\n", sig)
		code := 130
		if sig == syscall.SIGTERM {
			code = 143
		}
		os.Exit(code)
	}()
}
