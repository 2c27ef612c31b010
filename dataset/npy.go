package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sbinet/npyio/npy"
	"github.com/sbinet/npyio/npz"
)

// array is a NumPy array read from a .npy file or a .npz member.
type array struct {
	name  string
	shape []int
	dt    dtype
	data  []byte // C order
}

// dtype is a NumPy element type: kind 'b' (bool), 'i', 'u' or 'f', size in bytes, byte order.
type dtype struct {
	kind  byte
	size  int
	order binary.ByteOrder
}

// parseDtype parses a NumPy type string such as "<f4", "|u1" or ">i8".
func parseDtype(s string) (dtype, error) {
	dt := dtype{order: binary.LittleEndian}
	t := s
	if t != "" && strings.ContainsRune("<>|=", rune(t[0])) {
		if t[0] == '>' {
			dt.order = binary.BigEndian
		}
		t = t[1:]
	}
	if len(t) >= 2 {
		dt.kind = t[0]
		dt.size, _ = strconv.Atoi(t[1:])
	}
	switch {
	case dt.kind == 'b' && dt.size == 1,
		(dt.kind == 'i' || dt.kind == 'u') && (dt.size == 1 || dt.size == 2 || dt.size == 4 || dt.size == 8),
		dt.kind == 'f' && (dt.size == 4 || dt.size == 8):
		return dt, nil
	}
	return dt, fmt.Errorf("element type %q not supported (want bool, integers, float32 or float64)", s)
}

// readNPY reads one NumPy array. The header is parsed by npyio; the data are read here in one
// piece, which is much faster than element by element and notices truncated files.
func readNPY(src *source) (*array, error) {
	h, err := npyHeader(src)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", src.name, err)
	}
	dt, err := parseDtype(h.Descr.Type)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", src.name, err)
	}
	a := &array{name: src.name, shape: h.Descr.Shape, dt: dt}
	n := int64(1)
	for _, v := range a.shape {
		if v < 0 || (v > 0 && n > maxBytes/int64(v)) {
			return nil, fmt.Errorf("dataset: %s: implausible array shape %v", src.name, a.shape)
		}
		n *= int64(v)
	}
	what := fmt.Sprintf("array of shape %v and type %s", a.shape, h.Descr.Type)
	if a.data, err = src.readFull(n*int64(dt.size), what); err != nil {
		return nil, err
	}
	if err := src.end("the " + what); err != nil {
		return nil, err
	}
	if h.Descr.Fortran {
		a.data = fortranToC(a.data, a.shape, dt.size)
	}
	return a, nil
}

// npyHeader parses a NumPy header with npyio, turning a panic on a malformed header into an
// error.
func npyHeader(src *source) (h npy.Header, err error) {
	// npyio allocates the header length it reads; refuse absurd ones (numpy's own limit for
	// untrusted files is 10000 bytes).
	if pre, _ := src.r.Peek(12); len(pre) == 12 && pre[6] >= 2 {
		if n := binary.LittleEndian.Uint32(pre[8:]); n > 1<<20 {
			return h, fmt.Errorf("NumPy header of %d bytes; is the file corrupt?", n)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed NumPy header: %v", p)
		}
	}()
	r, err := npy.NewReader(src.r)
	if err != nil {
		return h, fmt.Errorf("reading NumPy header: %w", err)
	}
	return r.Header, nil
}

// fortranToC reorders column-major array data to row-major.
func fortranToC(data []byte, shape []int, size int) []byte {
	if len(shape) < 2 {
		return data
	}
	out := make([]byte, len(data))
	stride := make([]int, len(shape)) // element strides of the column-major layout
	s := 1
	for k, v := range shape {
		stride[k] = s
		s *= v
	}
	idx := make([]int, len(shape))
	off := 0 // column-major offset of idx
	for c := 0; c < len(data)/size; c++ {
		copy(out[c*size:(c+1)*size], data[off*size:(off+1)*size])
		for k := len(shape) - 1; k >= 0; k-- { // advance idx in row-major order
			idx[k]++
			off += stride[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
	return out
}

// floats converts the array to float32; uint8 data are divided by 255 when scaleUint8 is set.
func (a *array) floats(scaleUint8 bool) []float32 {
	b, dt := a.data, a.dt
	n := len(b) / dt.size
	x := make([]float32, n)
	switch {
	case dt.kind == 'u' && dt.size == 1 && scaleUint8:
		return bytesToUnit(b)
	case dt.kind == 'f' && dt.size == 4:
		for i := range x {
			x[i] = math.Float32frombits(dt.order.Uint32(b[4*i:]))
		}
	case dt.kind == 'f' && dt.size == 8:
		for i := range x {
			x[i] = float32(math.Float64frombits(dt.order.Uint64(b[8*i:])))
		}
	default:
		for i := range x {
			v, _ := a.at(i)
			x[i] = float32(v)
		}
	}
	return x
}

// at returns element i as a float64, and false for a float that is not a whole number.
func (a *array) at(i int) (float64, bool) {
	b, dt := a.data[i*a.dt.size:], a.dt
	switch dt.kind {
	case 'f':
		var v float64
		if dt.size == 4 {
			v = float64(math.Float32frombits(dt.order.Uint32(b)))
		} else {
			v = math.Float64frombits(dt.order.Uint64(b))
		}
		return v, v == math.Trunc(v)
	case 'i':
		switch dt.size {
		case 1:
			return float64(int8(b[0])), true
		case 2:
			return float64(int16(dt.order.Uint16(b))), true
		case 4:
			return float64(int32(dt.order.Uint32(b))), true
		default:
			return float64(int64(dt.order.Uint64(b))), true
		}
	default: // 'u', 'b'
		switch dt.size {
		case 1:
			return float64(b[0]), true
		case 2:
			return float64(dt.order.Uint16(b)), true
		case 4:
			return float64(dt.order.Uint32(b)), true
		default:
			return float64(dt.order.Uint64(b)), true
		}
	}
}

// labels converts a (N) or (N, 1) array of whole numbers to labels.
func (a *array) labels() ([]int, error) {
	if len(a.shape) == 0 || len(a.shape) > 2 || (len(a.shape) == 2 && a.shape[1] != 1) {
		return nil, fmt.Errorf("dataset: %s: labels have shape %v, want (N) or (N, 1) class indices (one-hot labels are not supported)", a.name, a.shape)
	}
	y := make([]int, a.shape[0])
	for i := range y {
		v, whole := a.at(i)
		if !whole || v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("dataset: %s: label %v at row %d is not a class index", a.name, v, i)
		}
		y[i] = int(v)
	}
	return y, nil
}

// pair builds the raw examples from inputs and labels arrays.
func pair(x, labels *array, opt Options) (*raw, error) {
	if len(x.shape) == 0 {
		return nil, fmt.Errorf("dataset: %s: a 0-dimensional array; want examples along the first axis", x.name)
	}
	y, err := labels.labels()
	if err != nil {
		return nil, err
	}
	if len(y) != x.shape[0] {
		return nil, fmt.Errorf("dataset: %s has %d labels but %s has %d examples", labels.name, len(y), x.name, x.shape[0])
	}
	shape := slices.Clone(x.shape[1:])
	if len(shape) == 0 {
		shape = []int{1}
	}
	return &raw{
		x: x.floats(opt.ScaleUint8), shape: shape, y: y, xName: x.name, yName: labels.name,
		float: x.dt.kind == 'f', arrays: true,
	}, nil
}

// loadNPY reads a .npy inputs file and its .npy labels file.
func loadNPY(src *source, opt Options) (*raw, error) {
	x, err := readNPY(src)
	if err != nil {
		return nil, err
	}
	lpath := opt.Labels
	if lpath == "" {
		base := filepath.Base(src.name)
		if base[0] != 'x' && base[0] != 'X' {
			return nil, &OptionError{Path: src.name, Field: "Labels", Reason: "no labels file (it is guessed only for names starting with x, as x_train.npy → y_train.npy)"}
		}
		if lpath, err = labelsPath(src.name, filepath.Join(filepath.Dir(src.name), string(base[0]+'y'-'x')+base[1:])); err != nil {
			return nil, err
		}
	}
	ls, err := open(lpath)
	if err != nil {
		return nil, err
	}
	defer ls.Close()
	y, err := readNPY(ls)
	if err != nil {
		return nil, err
	}
	return pair(x, y, opt)
}

// loadNPZ reads the inputs and labels arrays of a .npz file.
func loadNPZ(path string, opt Options) (*raw, error) {
	z, err := npz.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer z.Close()
	get := func(key, def string) (*array, error) {
		if key == "" {
			key = def
		}
		if !slices.Contains(z.Keys(), key+".npy") {
			var have []string
			for _, k := range z.Keys() {
				have = append(have, strings.TrimSuffix(k, ".npy"))
			}
			return nil, &OptionError{Path: path, Field: keyField[def], Reason: fmt.Sprintf("no array %q (it has %s)", key, strings.Join(have, ", "))}
		}
		rc, err := z.Open(key + ".npy")
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", path, err)
		}
		src := newSource(path+":"+key, rc)
		defer src.Close()
		return readNPY(src)
	}
	x, err := get(opt.XKey, "x")
	if err != nil {
		return nil, err
	}
	y, err := get(opt.YKey, "y")
	if err != nil {
		return nil, err
	}
	return pair(x, y, opt)
}

// keyField names the Options field choosing an .npz array, by its default key.
var keyField = map[string]string{"x": "XKey", "y": "YKey"}
