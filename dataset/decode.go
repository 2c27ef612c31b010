package dataset

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"os"
	"runtime/debug"
)

// MaxImagePixels bounds the width × height an image file may declare (2^25 ≈ 33.5 M pixels, e.g.
// 5792 × 5792): its header is checked before the pixels are decoded, so a crafted file cannot
// ask for gigabytes.
const MaxImagePixels = 1 << 25

// recoverDecoder turns a panic in a third-party decoder (npyio, zip, image) into an error naming
// the file; the readers call it at their boundary so no byte string can crash a command.
func recoverDecoder(path string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("dataset: %s: malformed file (the decoder failed: %v)", path, p)
		if os.Getenv("XREG_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "%s\n", debug.Stack())
		}
	}
}

// DecodeImage decodes a PNG or JPEG file after checking its declared size against MaxImagePixels.
func DecodeImage(path string) (img image.Image, err error) {
	defer recoverDecoder(path, &err)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return decodeImageBytes(path, data)
}

// DecodeImageBytes is DecodeImage for an image already in memory; name is used in errors.
func DecodeImageBytes(name string, data []byte) (image.Image, error) {
	return decodeImageBytes(name, data)
}

func decodeImageBytes(path string, data []byte) (img image.Image, err error) {
	defer recoverDecoder(path, &err)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("dataset: %s: empty image (%d×%d)", path, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("dataset: %s: image of %d×%d pixels, more than the limit of %d", path, cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("dataset: %s: empty image", path)
	}
	return img, nil
}

// LoadArray reads one float32 or float64 NumPy array (.npy, gzipped or not; C or Fortran order)
// as row-major float32 values and its shape. Every size the header declares is checked against
// the data present; a malformed file is an error naming it, never a panic.
func LoadArray(path string) (data []float32, shape []int, err error) {
	defer recoverDecoder(path, &err)
	src, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	return readFloatArray(src)
}

func readFloatArray(src *source) (data []float32, shape []int, err error) {
	defer recoverDecoder(src.name, &err)
	head, _ := src.r.Peek(6)
	if !bytes.Equal(head, []byte("\x93NUMPY")) {
		return nil, nil, fmt.Errorf("dataset: %s: not a NumPy .npy file", src.name)
	}
	a, err := readNPY(src)
	if err != nil {
		return nil, nil, err
	}
	if a.dt.kind != 'f' {
		return nil, nil, fmt.Errorf("dataset: %s: element type %c%d: want float32 or float64", src.name, a.dt.kind, a.dt.size)
	}
	return a.floats(false), a.shape, nil
}

// readArrayBytes is LoadArray on bytes in memory (the fuzz target's entry point).
func readArrayBytes(name string, b []byte) ([]float32, []int, error) {
	return readFloatArray(newSource(name, io.NopCloser(bytes.NewReader(b))))
}
