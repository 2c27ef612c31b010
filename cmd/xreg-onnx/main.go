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
	"strings"

	"github.com/urfave/cli/v2"

	_ "github.com/xreg-onnx/xreg-onnx/internal/blas" // OpenBLAS unless -tags purego
)

// version is the tool version recorded in exported models' provenance; set with -ldflags at release.
var version = "0.1.0-dev"

// commands is filled by the init functions of the sub-command files.
var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	for _, c := range commands {
		documentRanges(c)
	}
	return &cli.App{
		Name:    "xreg-onnx",
		Usage:   "fine-tune ONNX models with cross-regularization and export calibrated deterministic models",
		Version: version,
		Description: "The model file is the argument of every command (report takes several), and flags may come\n" +
			"before or after it. Start with 'xreg-onnx setup' (onnxruntime), then 'xreg-onnx finetune'.",
		Commands: commands,
		// `xreg-onnx completion bash` prints the script that uses it.
		EnableBashCompletion: true,
		// Errors are printed once, by main, as a single line.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// flagsFirst moves a sub-command's flags in front of its positional arguments, so that
// `xreg-onnx export trained.onnx -o model.onnx` works: urfave/cli v2 stops parsing flags at the
// first positional argument. Flags that take a value keep it ("-o x" or "-o=x"); "--" ends the
// flags.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 3 {
		return args
	}
	// The shell-completion request must stay the last argument.
	if last := args[len(args)-1]; last == "--generate-bash-completion" {
		return append(flagsFirst(app, args[:len(args)-1]), last)
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	out := []string{args[0], args[1]}
	var positional []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case len(a) > 1 && a[0] == '-':
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if takesValue[name] && !strings.Contains(name, "=") && i+1 < len(rest) {
				i++
				out = append(out, rest[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(out, positional...)
}

func main() {
	app := newApp()
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		trapSignals()
	}
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "xreg-onnx: %v\n", err)
		os.Exit(1)
	}
}

// modelArg returns the one model file of a command: its argument, or the deprecated --model flag.
func modelArg(c *cli.Context, cmd string) (string, error) {
	flag := c.String("model")
	switch {
	case c.NArg() > 1:
		return "", fmt.Errorf("%s: expected one model file, got %d arguments %q", cmd, c.NArg(), c.Args().Slice())
	case c.NArg() == 1 && flag != "":
		return "", fmt.Errorf("%s: the model is given twice (argument %s and --model %s); give it as the argument", cmd, c.Args().First(), flag)
	case c.NArg() == 1:
		return c.Args().First(), nil
	case flag != "":
		return flag, nil
	}
	return "", fmt.Errorf("%s: expected a model file (xreg-onnx %s [flags] model.onnx)", cmd, cmd)
}
