// Package onnxpb holds the Go protobuf bindings for the part of the ONNX IR that xreg-onnx reads and
// writes. onnx.pb.go is generated from onnx.proto; run `make proto` after editing the schema.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
