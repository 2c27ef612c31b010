// Package onnximport reads ONNX models into a clean in-memory form and writes them back.
//
// A Model keeps the protobuf it was read from as the record of truth: everything the package does
// not interpret (doc strings, metadata, value_info, functions, training info, unknown fields) is
// written back unchanged. On top of it, Model.Graph is a validated view of the main graph: nodes in
// topological order with typed attributes, initializers decoded to Tensors, graph inputs and outputs
// with their declared shapes.
//
// Older opsets (from MinOpset, 7) are read through op-version adapters (adapt.go): a node is
// viewed in the form of the newest opset the executor knows — attributes that later opsets take
// as inputs become synthesized constants (Graph.Constants), legacy attributes are dropped, Upsample
// is viewed as Resize. Only the view changes; the protobuf, and so every written model, keeps the
// original nodes and opset.
//
// Validation happens at load time and reports the first problem as one error naming the node and
// what was expected: an op the project does not support, an attribute value it does not support, a
// default-domain opset outside [MinOpset, MaxOpset], an input no node, initializer or graph input
// produces (a dangling edge), or a cycle. Check lists every unsupported node instead of stopping at
// the first, for `xreg-onnx inspect`.
//
// InferShapes propagates static shapes through the supported ops, given concrete input shapes;
// KnownShapes propagates them as far as the model itself tells (declared input shapes,
// initializers, constants), with -1 for a dynamic or underivable dimension.
//
// Writing has one path. Model.Edit returns an Editor of a copy of the protobuf: it adds nodes,
// initializers and metadata under unique names, rewires readers and removes nodes, then validates
// the result once (Editor.Model for a new Model, Editor.Apply to replace the source); inject
// (noise and augmentation subgraphs) and export (stripping, temperature, Monte-Carlo ensemble) both
// edit through it. Model.Save writes atomically; metadata is read and written only through
// Model.Metadata, SetMetadata and DeleteMetadata (and the Editor's equivalents).
package onnximport
