package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInspectFixture(t *testing.T) {
	out, err := command("inspect", fixture("models", "resnet18-tiny.onnx")).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	s := string(out)
	// Counts from testdata/models/manifest.json (derived from the graph by the fixture script).
	for _, want := range []string{"ai.onnx 13", "input  FLOAT  [batch × 3 × 32 × 32]", "BatchNormalization  20", "Conv                20",
		"normalization points 20", "unsupported nodes: none"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// TestInspectBadFiles: each bad file gives one line of error naming the file, and no stack trace.
func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(fixture("models", "cnn-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"truncated.onnx": good[:len(good)/3],
		"text.onnx":      []byte("not a model at all\n"),
		"empty.onnx":     nil,
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := command("inspect", p).CombinedOutput()
			if err == nil {
				t.Fatalf("no error:\n%s", out)
			}
			s := strings.TrimSpace(string(out))
			if strings.Contains(s, "\n") || !strings.Contains(s, p) || !strings.Contains(s, "not an ONNX model") || strings.Contains(s, "goroutine") {
				t.Fatalf("want one line naming %s, got:\n%s", p, s)
			}
		})
	}
	out, err := command("inspect", filepath.Join(dir, "missing.onnx")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file") {
		t.Fatalf("missing file: %v %s", err, out)
	}
}

// TestInspectAgreesWithInjectDryRun: on every fixture model, the normalization points `inspect`
// lists are exactly the points (node and op, in order) `inject --dry-run` would add noise at.
func TestInspectAgreesWithInjectDryRun(t *testing.T) {
	models, err := filepath.Glob(fixture("models", "*.onnx"))
	if err != nil || len(models) == 0 {
		t.Fatalf("no fixture models: %v", err)
	}
	for _, model := range models {
		t.Run(filepath.Base(model), func(t *testing.T) {
			var out bytes.Buffer
			app := newApp()
			app.Writer, app.ErrWriter = &out, &out
			if err := app.Run([]string{"xreg-onnx", "inspect", model}); err != nil {
				t.Fatalf("inspect: %v\n%s", err, out.String())
			}
			var fromInspect []string
			inPoints := false
			for _, line := range strings.Split(out.String(), "\n") {
				switch {
				case strings.HasPrefix(line, "normalization points "):
					inPoints = true
				case inPoints && strings.HasPrefix(line, "  "):
					f := strings.Fields(line) // "name (op)"
					fromInspect = append(fromInspect, f[0]+" "+strings.TrimSuffix(strings.TrimPrefix(f[1], "("), ")"))
				default:
					inPoints = false
				}
			}
			dry, err := runInjectCLI("--dry-run", model)
			if err != nil {
				t.Fatalf("inject --dry-run: %v\n%s", err, dry)
			}
			var fromDryRun []string
			for _, line := range strings.Split(dry, "\n")[1:] { // after the header
				f := strings.Fields(line)
				if len(f) < 5 || strings.HasPrefix(line, "dry run:") {
					continue
				}
				fromDryRun = append(fromDryRun, f[0]+" "+f[1])
			}
			if len(fromInspect) == 0 || !slices.Equal(fromInspect, fromDryRun) {
				t.Errorf("inspect lists %d points %v,\ninject --dry-run %d %v", len(fromInspect), fromInspect, len(fromDryRun), fromDryRun)
			}
		})
	}
}
