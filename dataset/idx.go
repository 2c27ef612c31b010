package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// IDX files start with two zero bytes, an element type and the number of dimensions, followed by
// one big-endian uint32 per dimension; 0x08 is unsigned byte.
const idxUbyte = 0x08

// isIDX reports whether head starts like an IDX file of unsigned bytes.
func isIDX(head []byte) bool {
	return len(head) >= 4 && head[0] == 0 && head[1] == 0 && head[2] == idxUbyte && head[3] >= 1 && head[3] <= 4
}

// readIDXHeader reads the magic number and dimensions of an IDX file of unsigned bytes with
// ndim dimensions.
func readIDXHeader(s *source, ndim int, what string) ([]int, error) {
	var magic [4]byte
	if _, err := io.ReadFull(s.r, magic[:]); err != nil {
		return nil, fmt.Errorf("dataset: %s: truncated IDX header: %w", s.name, err)
	}
	if want := [4]byte{0, 0, idxUbyte, byte(ndim)}; magic != want {
		return nil, fmt.Errorf("dataset: %s: not an IDX %s file: magic 0x%08x, want 0x%08x",
			s.name, what, binary.BigEndian.Uint32(magic[:]), binary.BigEndian.Uint32(want[:]))
	}
	dims := make([]int, ndim)
	for i := range dims {
		var d uint32
		if err := binary.Read(s.r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("dataset: %s: truncated IDX header: %w", s.name, err)
		}
		dims[i] = int(d)
	}
	return dims, nil
}

// loadIDX reads an IDX images file and its labels file.
func loadIDX(src *source, opt Options) (*raw, error) {
	ndim := 3
	if head, _ := src.r.Peek(4); len(head) == 4 && head[3] != 3 {
		ndim = int(head[3]) // N×D or N×C×H×W
	}
	if ndim < 2 {
		return nil, fmt.Errorf("dataset: %s: IDX file with 1 dimension holds labels, not images; pass the images file", src.name)
	}
	dims, err := readIDXHeader(src, ndim, "images")
	if err != nil {
		return nil, err
	}
	n, shape := dims[0], dims[1:]
	if ndim == 3 {
		shape = []int{1, dims[1], dims[2]}
	}
	d := prod(shape)
	if d == 0 || int64(n) > maxBytes/int64(d) {
		return nil, fmt.Errorf("dataset: %s: implausible IDX dimensions %v", src.name, dims)
	}
	pix, err := src.readFull(int64(n)*int64(d), fmt.Sprintf("%d images of %v", n, shape))
	if err != nil {
		return nil, err
	}
	if err := src.end(fmt.Sprintf("the %d images the header announces", n)); err != nil {
		return nil, err
	}

	lpath := opt.Labels
	if lpath == "" {
		base := filepath.Base(src.name)
		if !strings.Contains(base, "images-idx3") {
			return nil, &OptionError{Path: src.name, Field: "Labels", Reason: `cannot guess the labels file (no "images-idx3" in the name)`}
		}
		guess := filepath.Join(filepath.Dir(src.name), strings.Replace(base, "images-idx3", "labels-idx1", 1))
		other := guess + ".gz"
		if strings.HasSuffix(guess, ".gz") {
			other = strings.TrimSuffix(guess, ".gz")
		}
		if lpath, err = labelsPath(src.name, guess, other); err != nil {
			return nil, err
		}
	}
	y, err := readIDXLabels(lpath)
	if err != nil {
		return nil, err
	}
	if len(y) != n {
		return nil, fmt.Errorf("dataset: %s has %d labels but %s has %d images", lpath, len(y), src.name, n)
	}
	return &raw{x: bytesToUnit(pix), shape: shape, y: y, xName: src.name, yName: lpath}, nil
}

// readIDXLabels reads an IDX labels file (magic 0x00000801).
func readIDXLabels(path string) ([]int, error) {
	src, err := open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dims, err := readIDXHeader(src, 1, "labels")
	if err != nil {
		return nil, err
	}
	b, err := src.readFull(int64(dims[0]), fmt.Sprintf("%d labels", dims[0]))
	if err != nil {
		return nil, err
	}
	if err := src.end(fmt.Sprintf("the %d labels the header announces", dims[0])); err != nil {
		return nil, err
	}
	y := make([]int, len(b))
	for i, v := range b {
		y[i] = int(v)
	}
	return y, nil
}

// unitBytes maps a byte to its intensity in [0, 1].
var unitBytes = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// bytesToUnit scales 8-bit intensities to [0, 1].
func bytesToUnit(b []byte) []float32 {
	x := make([]float32, len(b))
	for i, v := range b {
		x[i] = unitBytes[v]
	}
	return x
}
