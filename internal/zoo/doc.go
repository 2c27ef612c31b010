// Package zoo holds the model-zoo test: every architecture × opset of testdata/zoo (made by
// scripts/make_zoo.py; testdata/zoo-large too with XREG_LARGE=1) is imported, run against
// onnxruntime, injected, trained one step and exported, and the outcome is written as a table
// (docs/ZOO.md, and README's zoo section) with `go test ./internal/zoo -update`; the full-width
// outcome is kept in docs/zoo-large.json. Besides: torchvision's BN-free vgg11 exported from train()
// (extra.json) fine-tuned with noise after its ReLUs and Dropouts, and the paddle2onnx-style vit's
// Constant weights (layer norms, and the class token and position embedding when selected)
// trained and exported. The package has no code of its own.
package zoo
