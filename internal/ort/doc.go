// Package ort runs ONNX models with onnxruntime: it is the one place where xreg-onnx loads the
// onnxruntime shared library and the one type (Session) that tests, the calibration report and the
// predict and serve commands use to run a model.
//
// # Loading the library
//
// The shared library is located once per process, on first use, in this order:
//
//  1. the file named by the environment variable XREG_ORT_LIB (if set, nothing else is tried);
//  2. third_party/onnxruntime/libonnxruntime.so.1 in the working directory or any parent of it, up
//     to and including the folder that holds go.mod (a checkout of the repository: `go test`
//     finds it from any package folder; outside a module only the working directory is tried);
//  3. libonnxruntime.so.1 next to the running executable;
//  4. libonnxruntime.so.1 in the user data folder, UserDir: $XDG_DATA_HOME/xreg-onnx or
//     ~/.local/share/xreg-onnx.
//
// scripts/fetch-ort.sh installs the library at the second place; Install (`xreg-onnx setup`) at
// the fourth, from the npm package onnxruntime-node (NPMVersion), with `npm pack` or from a
// tarball already downloaded. When it is missing, every function that needs it returns the same
// error, naming the places searched and the one command that fixes it. Available performs the
// loading (once, safe for concurrent callers) and returns that error, so callers can decide early;
// tests use orttest.Require, which skips or fails (under CI) on it. The environment lives as long
// as the process.
//
// # Sessions
//
// Open and OpenBytes load a model. A Session describes its inputs and outputs (Info: name, element
// type, shape with -1 for dynamic dimensions) and runs it on Tensors, plain Go values holding float32
// or int64 data, which Run checks against the model's declared inputs before calling onnxruntime, so
// that a wrong shape gives an error naming the model and the input rather than an onnxruntime trace.
//
// By default a session uses one intra-op and one inter-op thread: results and timings are then
// reproducible from run to run and comparable with single-threaded PyTorch. Options raises that.
//
// Run may be called from several goroutines at once (onnxruntime's Run is thread-safe); Close waits
// for runs in flight and makes later calls fail with an error.
package ort
