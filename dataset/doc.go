// Package dataset loads labelled examples for training and evaluating classifiers: the data
// behind `xreg-onnx train` and `xreg-onnx report`.
//
// # Model
//
// A [Set] holds N examples as one row-major float32 slice, X (N × prod(Shape) values), with an
// integer label per example in Y, every label in [0, Classes). Shape is the per-example shape
// the model sees, without the batch dimension: [1 28 28] for a grey image, [3 32 32] for a
// colour one, [784] for a flat vector.
//
// [Load] reads a file or folder, detecting its format from its content:
//
//   - IDX (the MNIST / Fashion-MNIST format), gzipped or not: path names the images file
//     (…-images-idx3-ubyte[.gz]); the labels file is the same name with "images-idx3"
//     replaced by "labels-idx1" (with or without .gz) unless [Options].Labels names it.
//     Examples are [1 H W].
//   - NumPy .npy: path names the inputs; the labels are [Options].Labels or, when the
//     file name starts with x or X (x.npy, x_train.npy), the same name starting with y or Y.
//   - NumPy .npz: arrays "x" and "y", or those named by [Options].XKey and [Options].YKey.
//   - CIFAR-10 binary batches: one data_batch_N.bin / test_batch.bin file, or a folder whose
//     data_batch_*.bin files are read in numeric order. Examples are [3 32 32].
//   - An image folder, root/<class>/*.png|jpg|jpeg: classes are the sub-folder names in sorted
//     order, images within a class are read in file-name order, each one decoded, converted to
//     grey (C = 1) or RGB (C = 3) and resized with a bilinear filter to [Options].Shape [C H W];
//     with [Options].Preprocess, converted by package preprocess instead (resize, crop, mean/std,
//     channel order, layout), which other formats refuse.
//
// # Values
//
// Pixels of IDX, CIFAR and image files are 8-bit (or 16-bit PNG) intensities scaled to [0, 1]
// (x/255). NumPy inputs are converted to float32 unchanged, with one exception: uint8 arrays are
// divided by 255 when [Options].ScaleUint8 is set. Images lose any alpha channel, as
// Pillow's convert("RGB") does; grey is the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B.
//
// # Validation
//
// Load refuses data that training would trip over later, each time with one line naming the file
// and what was expected: an unknown or truncated file, a wrong magic number, different numbers
// of inputs and labels, a label outside [0, Classes), a NaN or infinite input, no examples, or an
// [Options].Shape whose element count differs from the file's. [Set.Validate] runs the same
// checks on a Set built by hand.
//
// # Training helpers
//
// [Set.Split] carves a seeded random part off a set (the regularization split of
// cross-regularization); [Set.Batches] walks a set in mini-batches, in file order or in a seeded
// random order; [Set.Slice], [Set.Subset] and [Set.Reshape] select and reinterpret examples.
package dataset
