package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

// TestInstallFromEmptyHome is the README's install path on a machine that has only Go and npm:
// `go install ./cmd/xreg-onnx` into an empty GOBIN, with an empty HOME and no XREG_ORT_LIB, run
// from a folder outside the repository. Before setup, finetune stops at once with the message that
// names the places searched and the fix; after `xreg-onnx setup` (npm pack onnxruntime-node, npm's
// download cache reused when the real HOME has one), `version` finds onnxruntime and finetune runs
// on the bundled data.
func TestInstallFromEmptyHome(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the binary")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		if orttest.Strict() {
			t.Fatal("npm is needed (scripts/setup.sh installs it)")
		}
		t.Skip("npm is not installed")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	home, gobin, work := filepath.Join(tmp, "home"), filepath.Join(tmp, "bin"), filepath.Join(tmp, "work")
	for _, d := range []string{home, gobin, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The Go caches of this machine, so that the build does not start from nothing; npm's cache,
	// so that an offline rerun can reuse the package scripts/setup.sh downloaded.
	goEnv := func(name string) string {
		out, err := exec.Command(goTool, "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	env := []string{"HOME=" + home, "GOBIN=" + gobin, "PATH=" + os.Getenv("PATH"),
		"GOCACHE=" + goEnv("GOCACHE"), "GOMODCACHE=" + goEnv("GOMODCACHE"), "GOPATH=" + goEnv("GOPATH"),
		"GOFLAGS=" + goEnv("GOFLAGS"), "GOTOOLCHAIN=local", "CGO_ENABLED=" + goEnv("CGO_ENABLED")}
	if realHome, err := os.UserHomeDir(); err == nil {
		if st, err := os.Stat(filepath.Join(realHome, ".npm")); err == nil && st.IsDir() {
			env = append(env, "npm_config_cache="+filepath.Join(realHome, ".npm"))
		}
	}
	for _, k := range []string{"GOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOSUMDB", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	run := func(dir, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(root, goTool, "install", "./cmd/xreg-onnx"); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	bin := filepath.Join(gobin, "xreg-onnx")
	data := func(name string) string { return filepath.Join(root, "testdata", "fmnist-small", name) }
	finetune := []string{"finetune", filepath.Join(root, "testdata", "demo", "cnn-bn-pretrained.onnx"),
		"--data", data("train-images-idx3-ubyte.gz"), "--limit", "128", "--reg-data", data("reg-images-idx3-ubyte.gz"),
		"--reg-limit", "128", "--test-data", data("test-images-idx3-ubyte.gz"), "--test-limit", "256",
		"--epochs", "1", "--reg-every", "1", "-o", filepath.Join(work, "ft")}

	userDir := filepath.Join(home, ".local", "share", "xreg-onnx")
	out, err := run(work, bin, finetune...)
	if err == nil || !strings.Contains(out, "run `xreg-onnx setup` to install onnxruntime 1.30.0 into "+userDir) ||
		!strings.Contains(out, filepath.Join(gobin, "libonnxruntime.so.1")) || strings.Contains(out, "epoch") {
		t.Fatalf("finetune before setup: err %v, want an immediate error naming the places and the fix:\n%s", err, out)
	}
	if out, err := run(work, bin, "setup"); err != nil || !strings.Contains(out, "onnxruntime 1.30.0 ready: "+filepath.Join(userDir, "libonnxruntime.so.1")) {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	if out, err := run(work, bin, "version"); err != nil || !strings.Contains(out, "onnxruntime: 1.30.0 ("+userDir) {
		t.Errorf("version after setup: %v\n%s", err, out)
	}
	if out, err := run(work, bin, finetune...); err != nil {
		t.Fatalf("finetune after setup: %v\n%s", err, out)
	}
	js, err := os.ReadFile(filepath.Join(work, "ft", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r calib.Report
	if err := json.Unmarshal(js, &r); err != nil || r.Recommendation == nil || len(r.Models) < 3 {
		t.Fatalf("report.json: %v; %d models, recommendation %v", err, len(r.Models), r.Recommendation)
	}
}
