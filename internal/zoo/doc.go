// Package zoo holds the model-zoo test: every architecture × opset of testdata/zoo (made by
// scripts/make_zoo.py; testdata/zoo-large too with XREG_LARGE=1) is imported, run against
// onnxruntime, injected, trained one step and exported, and the outcome is written as a table
// (docs/ZOO.md, and README's zoo section) with `go test ./internal/zoo -update`. The package has no
// code of its own.
package zoo
