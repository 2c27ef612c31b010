package ort_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// Child process of TestAvailableErrors: report what Available says and nothing else.
		if err := ort.Available(); err != nil {
			os.Stdout.WriteString("ERR " + err.Error())
			os.Exit(0)
		}
		os.Stdout.WriteString("OK " + ort.LibraryPath())
		os.Exit(0)
	}
	orttest.Main(m)
}

const helperEnv = "XREG_ORT_TEST_HELPER"

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFindLibrary checks the documented search order against fake trees in a temporary folder.
func TestFindLibrary(t *testing.T) {
	lib := filepath.Join("third_party", "onnxruntime", "libonnxruntime.so.1")
	for _, test := range []struct {
		name    string
		env     string   // XREG_ORT_LIB relative to the root ("" = unset)
		files   []string // created under the root
		cwd     string   // relative to the root
		want    string   // found path relative to the root; "" means an error
		wantErr []string // substrings of the error, "$ROOT" replaced
	}{
		{name: "env wins", env: "my/ort.so", files: []string{"my/ort.so", "go.mod", lib}, cwd: ".", want: "my/ort.so"},
		{name: "env missing is final", env: "nope.so", files: []string{"go.mod", lib}, cwd: ".",
			wantErr: []string{"ort: onnxruntime shared library not found (looked in XREG_ORT_LIB=$ROOT/nope.so)",
				"run `xreg-onnx setup` to install onnxruntime 1.30.0 into $ROOT/data/xreg-onnx, or set XREG_ORT_LIB"}},
		{name: "cwd is module root", files: []string{"go.mod", lib}, cwd: ".", want: lib},
		{name: "walk up to module root", files: []string{"go.mod", lib, "a/b/keep"}, cwd: "a/b", want: lib},
		{name: "nearer copy first", files: []string{"go.mod", lib, "a/" + lib}, cwd: "a", want: "a/" + lib},
		{name: "stop at go.mod", files: []string{lib, "mod/go.mod", "mod/sub/keep"}, cwd: "mod/sub",
			wantErr: []string{"looked in $ROOT/mod/sub/" + lib + ", $ROOT/mod/" + lib + ", ", ", $ROOT/data/xreg-onnx/libonnxruntime.so.1)",
				"run `xreg-onnx setup` to install onnxruntime 1.30.0 into $ROOT/data/xreg-onnx"}},
		{name: "user data folder", files: []string{"data/xreg-onnx/libonnxruntime.so.1", "elsewhere/keep"}, cwd: "elsewhere",
			want: "data/xreg-onnx/libonnxruntime.so.1"},
		{name: "checkout before user data folder", files: []string{"go.mod", lib, "data/xreg-onnx/libonnxruntime.so.1"}, cwd: ".", want: lib},
	} {
		t.Run(test.name, func(t *testing.T) {
			root, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range test.files {
				touch(t, filepath.Join(root, f))
			}
			if test.env != "" {
				t.Setenv(ort.EnvLib, filepath.Join(root, test.env))
			} else {
				t.Setenv(ort.EnvLib, "")
			}
			t.Setenv(ort.EnvDataHome, filepath.Join(root, "data"))
			t.Chdir(filepath.Join(root, test.cwd))
			got, err := ort.FindLibrary()
			if test.want != "" {
				if err != nil || got != filepath.Join(root, test.want) {
					t.Fatalf("FindLibrary() = %q, %v; want %q", got, err, filepath.Join(root, test.want))
				}
				return
			}
			if err == nil {
				t.Fatalf("FindLibrary() = %q, want an error", got)
			}
			for _, s := range test.wantErr {
				if s = strings.ReplaceAll(s, "$ROOT", root); !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\ndoes not contain %q", err, s)
				}
			}
		})
	}
}

// TestAvailableErrors runs the once-initialisation in child processes with a bad XREG_ORT_LIB.
func TestAvailableErrors(t *testing.T) {
	notLib := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(notLib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing", "libonnxruntime.so.1")
	for _, test := range []struct {
		lib  string
		want string
	}{
		{missing, "ERR ort: onnxruntime shared library not found (looked in XREG_ORT_LIB=" + missing +
			"); run `xreg-onnx setup`"},
		{notLib, "ERR ort: load " + notLib + ": "},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=1", ort.EnvLib+"="+test.lib)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.HasPrefix(string(out), test.want) {
			t.Errorf("XREG_ORT_LIB=%s: got %q\nwant prefix %q", test.lib, out, test.want)
		}
	}
}

// TestLibraryNextToExecutable copies the test binary into a folder with a (fake) library beside
// it and runs it from a folder without go.mod and without XREG_ORT_LIB: it must pick that file.
func TestLibraryNextToExecutable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ort.test")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(lib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), helperEnv+"=1", ort.EnvLib+"=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if want := "ERR ort: load " + lib + ": "; !strings.HasPrefix(string(out), want) {
		t.Errorf("got %q\nwant prefix %q", out, want)
	}
}

func TestVersion(t *testing.T) {
	orttest.Require(t)
	// scripts/fetch-ort.sh records the version it installed next to the library.
	want, err := os.ReadFile(filepath.Join(filepath.Dir(ort.LibraryPath()), "VERSION"))
	if err != nil {
		t.Skipf("no VERSION file next to %s: %v", ort.LibraryPath(), err)
	}
	if got := ort.Version(); got != strings.TrimSpace(string(want)) {
		t.Errorf("Version() = %q, want %q (from VERSION)", got, strings.TrimSpace(string(want)))
	}
}
