// Package preprocess turns an image into one example of a model's input the way the model was
// trained to see it: resize, center crop, scale to [0, 1], per-channel mean/std normalization,
// channel order (RGB or BGR) and layout (NCHW or NHWC). A Spec is recorded in a model's metadata
// (MetadataKey, JSON) by train, so that predict, serve and report apply the same steps to images by
// default, without the user repeating them.
//
// The steps, in order (torchvision's Resize(r) → CenterCrop(c) → ToTensor → Normalize):
//
//   - Resize > 0: the image is scaled (bilinear, golang.org/x/image/draw) so that its shorter side
//     is Resize pixels, keeping the aspect ratio.
//   - Center crop to Crop × Crop, or to the model's height × width when Crop is 0. The result must
//     be the model's height × width.
//   - Without Resize and Crop the image is scaled straight to the model's height × width (the
//     behaviour before preprocessing existed).
//   - Pixels are scaled to [0, 1]; a 1-channel model takes ITU-R BT.601 luma; transparent pixels of
//     non-premultiplied images keep their colour (Pillow's convert("RGB")).
//   - x = (x − Mean[c]) / Std[c] per channel (one value applies to every channel).
//   - ChannelOrder "bgr" swaps the red and blue planes; Layout "nhwc" interleaves channels last.
package preprocess
