package orttest

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

// Strict reports whether a missing onnxruntime library must fail tests rather than skip them. This
// is the one place of that rule: CI (environment CI=true) installs the library, so there it is an
// error; on a developer machine without it the tests are skipped with ort's message saying how to
// fetch it.
func Strict() bool { return os.Getenv("CI") == "true" }

// Require stops the test unless the onnxruntime library loads: it skips, or fails when Strict.
func Require(t testing.TB) {
	t.Helper()
	if err := ort.Available(); err != nil {
		if Strict() {
			t.Fatalf("onnxruntime is required when CI=true: %v", err)
		}
		t.Skip(err)
	}
}

// Main runs the package's tests for a TestMain. Examples cannot skip themselves, so when the
// library does not load and the run is not Strict, Main adds "^Example" to -test.skip (and says so);
// tests that need the library call Require.
func Main(m *testing.M) {
	flag.Parse()
	if err := ort.Available(); err != nil && !Strict() {
		skip := "^Example"
		if f := flag.Lookup("test.skip"); f != nil {
			if old := f.Value.String(); old != "" {
				skip = old + "|" + skip
			}
			if err := flag.Set("test.skip", skip); err != nil {
				fmt.Fprintf(os.Stderr, "orttest: %v\n", err)
				os.Exit(2)
			}
		}
		fmt.Fprintf(os.Stderr, "orttest: skipping examples: %v\n", err)
	}
	os.Exit(m.Run())
}
