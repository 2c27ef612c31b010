package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// Options refine how Load reads a file. The zero value suits files that carry everything.
type Options struct {
	// Labels names the labels file of an IDX images file or of a NumPy .npy inputs file. Empty
	// means the name derived from the inputs' name (see the package documentation).
	Labels string
	// XKey and YKey name the inputs and labels arrays of a .npz file; empty means "x" and "y".
	XKey, YKey string
	// Shape is the per-example shape the model expects. For an image folder it is required and
	// is the size images are resized to, [C H W] with C = 1 (grey) or 3 (RGB). For other formats
	// the examples are reshaped to it, which must keep the number of values; nil keeps the
	// file's shape. Reshaping NumPy examples [H W C] to [C H W] is refused unless ChannelsLast
	// is set, since it would scramble the pixels.
	Shape []int
	// ChannelsLast says that NumPy examples are stored height × width × channels (as Keras
	// does); they are transposed to channels × height × width. Other formats are channels-first
	// already and ignore it.
	ChannelsLast bool
	// ScaleUint8 divides uint8 NumPy inputs by 255. Other NumPy types are never scaled.
	ScaleUint8 bool
	// Classes, when positive, is the number of classes (usually the model's output count):
	// labels must lie in [0, Classes). Zero takes the format's own count (10 for CIFAR-10, the
	// number of sub-folders for an image folder) or else the largest label plus one.
	Classes int
	// Preprocess, when set, converts the images of an image folder (resize, crop, mean/std,
	// channel order, layout: see package preprocess) to Shape; other formats refuse it.
	Preprocess *preprocess.Spec
	// Offset skips that many examples; Limit, when positive, keeps at most that many after them.
	// Labels are checked, and classes counted, over the whole file first.
	Offset, Limit int
}

// Load reads the labelled examples at path, a file or folder in one of the formats listed in the
// package documentation, and returns them validated.
func Load(path string, opt Options) (set *Set, err error) {
	defer recoverDecoder(path, &err)
	if opt.Offset < 0 || opt.Limit < 0 || opt.Classes < 0 {
		return nil, fmt.Errorf("dataset: %s: negative offset %d, limit %d or classes %d", path, opt.Offset, opt.Limit, opt.Classes)
	}
	if opt.Shape != nil {
		if err := checkShape(opt.Shape); err != nil {
			return nil, &OptionError{Path: path, Field: "Shape", Reason: err.Error()}
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var r *raw
	if fi.IsDir() {
		r, err = loadDir(path, opt)
	} else {
		r, err = loadFile(path, opt)
	}
	if err != nil {
		return nil, err
	}
	return r.finish(path, opt)
}

// raw is what a format reader hands to the steps common to all formats.
type raw struct {
	x       []float32
	shape   []int // per example
	y       []int
	xName   string   // file the inputs came from, for messages
	yName   string   // file the labels came from, for messages
	classes int      // class count fixed by the format; 0 to infer
	names   []string // class names, if known
	float   bool     // inputs came from floats and may hold NaN or Inf
	arrays  bool     // NumPy arrays: ChannelsLast applies
}

func (r *raw) finish(path string, opt Options) (*Set, error) {
	n := len(r.y)
	if n == 0 {
		return nil, fmt.Errorf("dataset: %s: no examples", path)
	}
	if err := checkShape(r.shape); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", r.xName, err)
	}
	if len(r.x) != n*prod(r.shape) {
		// Format readers check this with their own messages; this is a safety net.
		return nil, fmt.Errorf("dataset: %s: %d values for %d examples of shape %v", r.xName, len(r.x), n, r.shape)
	}
	classes := r.classes
	switch {
	case opt.Classes > 0 && r.classes > opt.Classes:
		return nil, &OptionError{Path: path, Field: "Classes", Reason: fmt.Sprintf("%d classes but %d expected", r.classes, opt.Classes)}
	case opt.Classes > 0:
		classes = opt.Classes
	}
	if err := checkLabels(r.y, classes); err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", r.yName, err)
	}
	if classes == 0 {
		classes = slices.Max(r.y) + 1
	}
	names := r.names
	if names != nil && len(names) != classes {
		names = nil
	}
	if r.float {
		if err := checkFinite(r.x, prod(r.shape)); err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", r.xName, err)
		}
	}
	if opt.ChannelsLast && r.arrays {
		if len(r.shape) != 3 {
			return nil, fmt.Errorf("dataset: %s: Options.ChannelsLast needs examples of shape [H W C], got %v", r.xName, r.shape)
		}
		r.x, r.shape = hwcToCHW(r.x, r.shape)
	}
	if opt.Shape != nil && !slices.Equal(opt.Shape, r.shape) {
		if prod(opt.Shape) != prod(r.shape) {
			return nil, &OptionError{Path: r.xName, Field: "Shape", Reason: fmt.Sprintf("examples of shape %v (%d values) do not fit the expected shape %v (%d values)",
				r.shape, prod(r.shape), opt.Shape, prod(opt.Shape))}
		}
		if r.arrays && !opt.ChannelsLast && layoutChange(r.shape, opt.Shape) {
			return nil, &OptionError{Path: r.xName, Field: "ChannelsLast", Reason: fmt.Sprintf("examples of shape %v look channels-last but the expected shape is %v; transpose them",
				r.shape, opt.Shape)}
		}
		r.shape = slices.Clone(opt.Shape)
	}
	s := &Set{X: r.x, Shape: r.shape, Y: r.y, Classes: classes, ClassNames: names, Source: path}
	if opt.Offset > 0 || opt.Limit > 0 {
		if opt.Offset >= n {
			return nil, fmt.Errorf("dataset: %s: offset %d is past the %d examples", path, opt.Offset, n)
		}
		to := n
		if opt.Limit > 0 {
			to = min(n, opt.Offset+opt.Limit)
		}
		// Copy, so that the rest of the file's examples can be freed.
		d := s.Dim()
		s.X = slices.Clone(s.X[opt.Offset*d : to*d])
		s.Y = slices.Clone(s.Y[opt.Offset:to])
	}
	return s, nil
}

// layoutChange reports whether reshaping rank-3 examples from → to would reorder axes rather than
// add or drop unit axes, as [32 32 3] → [3 32 32] does.
func layoutChange(from, to []int) bool {
	if len(from) != 3 || len(to) != 3 {
		return false
	}
	squeeze := func(s []int) []int { return slices.DeleteFunc(slices.Clone(s), func(v int) bool { return v == 1 }) }
	return !slices.Equal(squeeze(from), squeeze(to))
}

// hwcToCHW transposes every example from height × width × channels to channels × height × width.
func hwcToCHW(x []float32, shape []int) ([]float32, []int) {
	h, w, c := shape[0], shape[1], shape[2]
	d := h * w * c
	out := make([]float32, len(x))
	for base := 0; base < len(x); base += d {
		src, dst := x[base:base+d], out[base:base+d]
		for i := 0; i < h*w; i++ {
			for k := 0; k < c; k++ {
				dst[k*h*w+i] = src[i*c+k]
			}
		}
	}
	return out, []int{c, h, w}
}

// loadDir reads a folder of CIFAR-10 batches or of class sub-folders.
func loadDir(dir string, opt Options) (*raw, error) {
	batches, err := cifarBatches(dir)
	if err != nil {
		return nil, err
	}
	if batches != nil {
		if opt.Preprocess != nil {
			return nil, fmt.Errorf("dataset: %s: image preprocessing (resize, crop, mean/std, channel order, layout) applies to image folders, not CIFAR-10 batches", dir)
		}
		return loadCIFAR(dir, batches)
	}
	return loadFolder(dir, opt)
}

// loadFile detects the format of a file from its first bytes (after gzip decompression).
func loadFile(path string, opt Options) (*raw, error) {
	if opt.Preprocess != nil {
		return nil, fmt.Errorf("dataset: %s: image preprocessing (resize, crop, mean/std, channel order, layout) applies to image folders; this is a file", path)
	}
	src, err := open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	head, _ := src.r.Peek(8)
	base := strings.TrimSuffix(filepath.Base(path), ".gz")
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return loadNPZ(path, opt)
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return loadNPY(src, opt)
	case isIDX(head):
		return loadIDX(src, opt)
	case strings.HasSuffix(base, ".bin"):
		return loadCIFAR(path, []string{path})
	case strings.Contains(base, "idx"):
		return nil, fmt.Errorf("dataset: %s: not an IDX file: magic 0x%x, want 0x00000803", path, head[:min(4, len(head))])
	}
	return nil, fmt.Errorf("dataset: %s: unknown format (want IDX, .npy, .npz, CIFAR-10 .bin, or a folder of class folders)", path)
}

// source is an open input file, gzip-decompressed when it is compressed.
type source struct {
	name string
	r    *bufio.Reader
	c    []io.Closer
}

// open opens path, transparently decompressing gzip.
func open(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	s := &source{name: path, r: bufio.NewReaderSize(f, 1<<16), c: []io.Closer{f}}
	if head, _ := s.r.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		z, err := gzip.NewReader(s.r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("dataset: %s: gzip: %w", path, err)
		}
		s.r = bufio.NewReaderSize(z, 1<<16)
		s.c = append(s.c, z)
	}
	return s, nil
}

// newSource wraps an already open reader, e.g. an array inside a .npz file.
func newSource(name string, r io.ReadCloser) *source {
	return &source{name: name, r: bufio.NewReaderSize(r, 1<<16), c: []io.Closer{r}}
}

// Close closes the source's files.
func (s *source) Close() error {
	var errs []error
	for i := len(s.c) - 1; i >= 0; i-- {
		errs = append(errs, s.c[i].Close())
	}
	return errors.Join(errs...)
}

// maxBytes bounds what one file may claim to hold, against corrupt headers.
const maxBytes = 1 << 40

// readFull reads exactly n bytes of what. Memory grows with the data actually present, so a
// corrupt header that promises too much fails as a truncated file rather than as a huge
// allocation.
func (s *source) readFull(n int64, what string) ([]byte, error) {
	if n < 0 || n > maxBytes {
		return nil, fmt.Errorf("dataset: %s: %s would take %d bytes; is the header corrupt?", s.name, what, n)
	}
	buf := make([]byte, 0, min(n, 1<<20))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n, 2*int64(cap(buf))))-len(buf))
		}
		m, err := io.ReadFull(s.r, buf[len(buf):int(min(n, int64(cap(buf))))])
		buf = buf[:len(buf)+m]
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("dataset: %s: truncated: %s needs %d bytes, found only %d", s.name, what, n, len(buf))
		}
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: reading %s: %w", s.name, what, err)
		}
	}
	return buf, nil
}

// end checks that nothing follows the data the header announced; reading to the end also makes
// gzip and zip verify their checksums.
func (s *source) end(what string) error {
	_, err := s.r.ReadByte()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return fmt.Errorf("dataset: %s: unexpected data after %s", s.name, what)
	default:
		return fmt.Errorf("dataset: %s: after %s: %w", s.name, what, err)
	}
}

// labelsPath returns the first existing file among the candidates, or an error naming all.
func labelsPath(inputs string, candidates ...string) (string, error) {
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", &OptionError{Path: inputs, Field: "Labels", Reason: "labels file " + strings.Join(candidates, " or ") + " not found"}
}

// OptionError says that loading Path needs an Options field the caller did not give, or gave a
// value that does not fit: Field names it ("Labels", "XKey", "Shape", "Classes", "ChannelsLast",
// …), Reason says what is missing or does not fit. The
// CLI maps Field to its flag.
type OptionError struct {
	Path, Field, Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("dataset: %s: %s (set Options.%s)", e.Path, e.Reason, e.Field)
}
