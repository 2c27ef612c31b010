package main

import (
	"os"
	"path/filepath"
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
		"normalization nodes 20", "unsupported nodes: none"} {
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
