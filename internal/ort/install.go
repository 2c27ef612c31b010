package ort

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
)

// NPMVersion is the version of the npm package onnxruntime-node that Install fetches by default
// (and scripts/fetch-ort.sh): it ships libonnxruntime.so.1 for Linux x64 and arm64.
const NPMVersion = "1.30.0"

// EnvDataHome is the XDG variable naming the user data folder; UserDir uses $HOME/.local/share
// without it.
const EnvDataHome = "XDG_DATA_HOME"

// UserDir returns the folder where Install puts the library and the loader looks for it:
// $XDG_DATA_HOME/xreg-onnx, or ~/.local/share/xreg-onnx.
func UserDir() (string, error) {
	if d := os.Getenv(EnvDataHome); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "xreg-onnx"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ort: no user data folder: %w", err)
	}
	return filepath.Join(home, ".local", "share", "xreg-onnx"), nil
}

// InstallOptions configures Install. The zero value fetches NPMVersion with npm into UserDir.
type InstallOptions struct {
	// Version of onnxruntime-node [NPMVersion].
	Version string
	// Tarball, when set, is an already downloaded onnxruntime-node-<version>.tgz: npm is not run.
	Tarball string
	// Dir is the destination folder [UserDir()].
	Dir string
	// Force reinstalls even when the library of that version is there.
	Force bool
	// Log receives what Install does (npm's own messages included); nil discards it.
	Log io.Writer
}

// Install puts libonnxruntime.so.1 from the npm package onnxruntime-node into opt.Dir, with a
// VERSION file beside it, and returns the library's path. The package is fetched with `npm pack`
// (npm's cache and registry settings apply) unless opt.Tarball names it. Nothing is written when it
// fails; an installed library of the same version is kept unless opt.Force.
func Install(ctx context.Context, opt InstallOptions) (string, error) {
	if opt.Version == "" {
		opt.Version = NPMVersion
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Dir == "" {
		d, err := UserDir()
		if err != nil {
			return "", err
		}
		opt.Dir = d
	}
	lib, versionFile := filepath.Join(opt.Dir, libName), filepath.Join(opt.Dir, "VERSION")
	if have, err := os.ReadFile(versionFile); err == nil && isFile(lib) && strings.TrimSpace(string(have)) == opt.Version && !opt.Force {
		fmt.Fprintf(opt.Log, "onnxruntime %s is already installed: %s\n", opt.Version, lib)
		return lib, nil
	}
	arch, err := npmArch()
	if err != nil {
		return "", err
	}
	tgz := opt.Tarball
	if tgz == "" {
		tmp, err := os.MkdirTemp("", "xreg-onnx-setup-")
		if err != nil {
			return "", fmt.Errorf("ort: setup: %w", err)
		}
		defer os.RemoveAll(tmp)
		if tgz, err = npmPack(ctx, tmp, opt.Version, opt.Log); err != nil {
			return "", err
		}
	}
	data, err := extract(tgz, "package/bin/napi-v6/linux/"+arch+"/"+libName)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return "", fmt.Errorf("ort: setup: %w", err)
	}
	if err := atomicfile.WriteFile(lib, data, 0o755); err != nil {
		return "", fmt.Errorf("ort: setup: %w", err)
	}
	if err := atomicfile.WriteFile(versionFile, []byte(opt.Version+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("ort: setup: %w", err)
	}
	fmt.Fprintf(opt.Log, "installed onnxruntime %s: %s\n", opt.Version, lib)
	return lib, nil
}

func npmArch() (string, error) {
	if runtime.GOOS != "linux" {
		return "", fmt.Errorf("ort: setup: onnxruntime-node's library is taken for Linux; on %s set %s to your onnxruntime library", runtime.GOOS, EnvLib)
	}
	switch runtime.GOARCH {
	case "amd64":
		return "x64", nil
	case "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("ort: setup: no onnxruntime-node library for %s; set %s to your onnxruntime library", runtime.GOARCH, EnvLib)
}

// npmPack downloads onnxruntime-node@version into dir with `npm pack` and returns the tarball.
func npmPack(ctx context.Context, dir, version string, log io.Writer) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("ort: setup: npm is needed to fetch onnxruntime-node@%s (Debian: sudo apt-get install npm), "+
			"or download onnxruntime-node-%s.tgz yourself and pass it with --from", version, version)
	}
	fmt.Fprintf(log, "fetching onnxruntime-node@%s with npm pack\n", version)
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", "onnxruntime-node@"+version)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ort: setup: npm pack onnxruntime-node@%s: %v: %s", version, err, strings.TrimSpace(stderr.String()))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "onnxruntime-node-*.tgz"))
	if len(matches) != 1 {
		return "", fmt.Errorf("ort: setup: npm pack onnxruntime-node@%s left %d tarballs in %s", version, len(matches), dir)
	}
	return matches[0], nil
}

// extract returns the file at name inside the gzipped tarball tgz.
func extract(tgz, name string) ([]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, fmt.Errorf("ort: setup: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("ort: setup: %s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("ort: setup: %s holds no %s (is it an onnxruntime-node package?)", tgz, name)
		}
		if err != nil {
			return nil, fmt.Errorf("ort: setup: %s: %w", tgz, err)
		}
		if h.Name != name || h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("ort: setup: %s: %s: %w", tgz, name, err)
		}
		return data, nil
	}
}
