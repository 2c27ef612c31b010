// Package orttest holds test helpers for code that runs models with internal/ort: Require and Main,
// which decide whether tests and examples without the onnxruntime library skip or fail, and
// builders of tiny ONNX models with known outputs.
package orttest
