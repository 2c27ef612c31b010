package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// EnvLib is the environment variable that names the onnxruntime shared library explicitly.
const EnvLib = "XREG_ORT_LIB"

const (
	libName   = "libonnxruntime.so.1"
	vendorDir = "third_party/onnxruntime"
)

var (
	initOnce sync.Once
	initErr  error
	initPath string
)

// Available loads the onnxruntime shared library and initialises its environment, once per process,
// and reports whether that succeeded. It is safe for concurrent use; later calls return the result
// of the first one.
func Available() error {
	initOnce.Do(func() {
		initPath, initErr = findLibrary()
		if initErr != nil {
			return
		}
		onnxruntime.SetSharedLibraryPath(initPath)
		if err := onnxruntime.InitializeEnvironment(onnxruntime.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("ort: load %s: %w", initPath, err)
		}
	})
	return initErr
}

// LibraryPath returns the path of the loaded onnxruntime library, or "" when it is not loaded.
func LibraryPath() string {
	if Available() != nil {
		return ""
	}
	return initPath
}

// Version returns the version of the loaded onnxruntime library ("1.30.0"), or "" when it is not
// loaded.
func Version() string {
	if Available() != nil {
		return ""
	}
	return onnxruntime.GetVersion()
}

// findLibrary returns the first existing library file in the documented search order, or an error
// listing every place it looked and the one command that fixes it.
func findLibrary() (string, error) {
	if p, ok := os.LookupEnv(EnvLib); ok && p != "" {
		if isFile(p) {
			return p, nil
		}
		return "", notFound([]string{fmt.Sprintf("%s=%s", EnvLib, p)})
	}
	var looked []string
	if wd, err := os.Getwd(); err == nil {
		for _, dir := range upToModuleRoot(wd) {
			p := filepath.Join(dir, vendorDir, libName)
			if isFile(p) {
				return p, nil
			}
			looked = append(looked, p)
		}
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), libName)
		if isFile(p) {
			return p, nil
		}
		looked = append(looked, p)
	}
	if dir, err := UserDir(); err == nil {
		p := filepath.Join(dir, libName)
		if isFile(p) {
			return p, nil
		}
		looked = append(looked, p)
	}
	return "", notFound(looked)
}

func notFound(looked []string) error {
	dir, err := UserDir()
	if err != nil {
		dir = "the user data folder"
	}
	return fmt.Errorf("ort: onnxruntime shared library not found (looked in %s); "+
		"run `xreg-onnx setup` to install onnxruntime %s into %s, or set %s to a libonnxruntime.so.1",
		strings.Join(looked, ", "), NPMVersion, dir, EnvLib)
}

// upToModuleRoot lists dir and its parents, stopping at the first one that holds go.mod. Without a
// go.mod above dir (an installed binary run elsewhere) it lists dir only.
func upToModuleRoot(dir string) []string {
	var dirs []string
	for d := dir; ; {
		dirs = append(dirs, d)
		if isFile(filepath.Join(d, "go.mod")) {
			return dirs
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dirs[:1]
		}
		d = parent
	}
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// errClosed is returned by a Session's methods after Close.
var errClosed = errors.New("session is closed")
