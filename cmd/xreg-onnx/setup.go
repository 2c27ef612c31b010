package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "setup",
		Usage: "install the onnxruntime library the tool needs (from the npm package onnxruntime-node) into the user data folder",
		Description: `Fetches onnxruntime-node@` + ort.NPMVersion + ` with 'npm pack' (Debian: sudo apt-get install npm) and
puts its libonnxruntime.so.1 into $XDG_DATA_HOME/xreg-onnx (default ~/.local/share/xreg-onnx),
where every command looks for it. Without npm, download the package tarball elsewhere and give it
with --from. The library is also found beside the xreg-onnx binary, in a checkout's
third_party/onnxruntime/, or wherever XREG_ORT_LIB points.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "install from this onnxruntime-node `FILE` (.tgz) instead of running npm"},
			&cli.StringFlag{Name: "dir", Usage: "install into `DIR` (default: the user data folder)"},
			&cli.StringFlag{Name: "npm-version", Value: ort.NPMVersion, Usage: "`VERSION` of onnxruntime-node (its library must expose ORT API ≥ 24)"},
			&cli.BoolFlag{Name: "force", Usage: "reinstall even when that version is installed"},
		},
		Action: runSetup,
	})
}

func runSetup(c *cli.Context) error {
	if c.NArg() != 0 {
		return fmt.Errorf("setup: takes no arguments, got %q", c.Args().Slice())
	}
	lib, err := ort.Install(c.Context, ort.InstallOptions{
		Version: c.String("npm-version"), Tarball: c.String("from"), Dir: c.String("dir"), Force: c.Bool("force"), Log: c.App.ErrWriter,
	})
	if err != nil {
		return err
	}
	if c.String("dir") != "" {
		fmt.Fprintf(c.App.Writer, "installed %s; point %s at it (it is not a folder the tool searches)\n", lib, ort.EnvLib)
		return nil
	}
	// Load it, as every command will.
	if err := ort.Available(); err != nil {
		return fmt.Errorf("setup: installed %s, but loading onnxruntime fails: %w", lib, err)
	}
	fmt.Fprintf(c.App.Writer, "onnxruntime %s ready: %s\n", ort.Version(), ort.LibraryPath())
	return nil
}
