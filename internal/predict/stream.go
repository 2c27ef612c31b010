package predict

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// requestError is a request the server cannot use, with the HTTP status to answer.
type requestError struct {
	code int
	err  error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func badJSON(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &requestError{400, fmt.Errorf("bad JSON: %w", err)}
}

func unprocessable(format string, a ...any) error {
	return &requestError{422, fmt.Errorf(format, a...)}
}

// decodeRequest reads one request object {"inputs": [...], "shape": [...]} as it streams in: the
// inputs go straight into the float32 tensor they describe, so a request never holds more than
// that tensor (no copy of the body, no tree of boxed numbers). maxValues bounds the tensor's
// length (the body limit bounds it anyway; this keeps the slice's growth within it). It returns
// the values, the nested shape of inputs and the shape field (nil when absent). Syntax errors are
// 400, values that do not make a tensor 422.
func decodeRequest(r io.Reader, maxValues int) (data []float32, nested, shape []int64, err error) {
	s := &scanner{r: bufio.NewReaderSize(r, 32<<10)}
	c, err := s.peek()
	if err == io.EOF {
		return nil, nil, nil, &requestError{400, errors.New("bad JSON: empty body")}
	}
	if err != nil {
		return nil, nil, nil, badJSON(err)
	}
	if c != '{' {
		return nil, nil, nil, badJSON(fmt.Errorf("json: want a request object, got %s", kindOf(c)))
	}
	s.skip()
	haveInputs, first := false, true
	for {
		c, err := s.peek()
		if err != nil {
			return nil, nil, nil, badJSON(err)
		}
		if c == '}' && first {
			s.skip()
			break
		}
		first = false
		key, err := s.str()
		if err != nil {
			return nil, nil, nil, badJSON(err)
		}
		if err := s.expect(':'); err != nil {
			return nil, nil, nil, badJSON(err)
		}
		switch key {
		case "inputs":
			if haveInputs {
				return nil, nil, nil, badJSON(errors.New(`json: "inputs" given twice`))
			}
			haveInputs = true
			if data, nested, err = decodeInputs(s, maxValues); err != nil {
				return nil, nil, nil, err
			}
		case "shape":
			if shape, err = decodeShape(s); err != nil {
				return nil, nil, nil, badJSON(err)
			}
		default:
			return nil, nil, nil, badJSON(fmt.Errorf("json: unknown field %q", key))
		}
		c, err = s.peek()
		if err != nil {
			return nil, nil, nil, badJSON(err)
		}
		s.skip()
		if c == '}' {
			break
		}
		if c != ',' {
			return nil, nil, nil, badJSON(s.invalid(c, "after a field"))
		}
	}
	if _, err := s.peek(); err != io.EOF {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return nil, nil, nil, badJSON(err)
	}
	if !haveInputs || data == nil {
		return nil, nil, nil, unprocessable(`"inputs" is missing`)
	}
	return data, nested, shape, nil
}

// decodeShape reads the shape field: null or an array of integers.
func decodeShape(s *scanner) ([]int64, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c == 'n' {
		return nil, s.literal("null")
	}
	if c != '[' {
		return nil, fmt.Errorf("json: cannot unmarshal %s into the shape, an array of integers", kindOf(c))
	}
	s.skip()
	shape := []int64{}
	for {
		c, err := s.peek()
		if err != nil {
			return nil, err
		}
		if c == ']' && len(shape) == 0 {
			s.skip()
			return shape, nil
		}
		if c != '-' && (c < '0' || c > '9') {
			return nil, fmt.Errorf("json: cannot unmarshal %s into the shape, an array of integers", kindOf(c))
		}
		text, err := s.number()
		if err != nil {
			return nil, err
		}
		d, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("json: cannot unmarshal number %s into a shape dimension (an int64)", text)
		}
		if len(shape) >= 64 {
			return nil, errors.New("json: shape has more than 64 dimensions")
		}
		shape = append(shape, d)
		if c, err = s.peek(); err != nil {
			return nil, err
		}
		s.skip()
		if c == ']' {
			return shape, nil
		}
		if c != ',' {
			return nil, s.invalid(c, "in the shape")
		}
	}
}

// decodeInputs reads a rectangular, non-empty nested array of numbers into row-major values and
// its shape, checking each array against the shape its first sibling set.
func decodeInputs(s *scanner, maxValues int) ([]float32, []int64, error) {
	c, err := s.peek()
	if err != nil {
		return nil, nil, badJSON(err)
	}
	if c == 'n' {
		return nil, nil, badJSONOrNil(s.literal("null")) // "inputs": null is a missing inputs
	}
	if c != '[' {
		return nil, nil, unprocessable("inputs must be an array of examples, got %s", kindOf(c))
	}
	s.skip()
	var (
		data  []float32
		shape = []int64{-1} // -1: not known until the first array at that depth closes
		count = []int64{0}  // elements read so far in the open array at each depth
		leaf  = -1          // depth of the arrays holding numbers, once known
		elem  = true        // an element may come next (after '[' or ',')
		comma = false       // the last token was a comma: an element must come
	)
	path := func() string { return inputsPath(count) }
	for len(count) > 0 {
		d := len(count) - 1 // depth of the open array
		if shape[d] >= 0 && count[d] > shape[d] {
			return nil, nil, unprocessable("%s: want an array of %d, got a longer one (inputs must be rectangular, shape %v)", path(), shape[d], shape)
		}
		c, err := s.peek()
		if err != nil {
			return nil, nil, badJSON(err)
		}
		switch {
		case c == ',':
			if elem {
				return nil, nil, badJSON(s.invalid(c, "in an array"))
			}
			s.skip()
			elem, comma = true, true
		case c == ']':
			if comma {
				return nil, nil, badJSON(s.invalid(c, "after a comma"))
			}
			s.skip()
			elem, comma = false, false
			n := count[d]
			count = count[:d]
			where := func() string {
				if d == 0 {
					return "inputs"
				}
				return path() + "[" + strconv.FormatInt(count[d-1]-1, 10) + "]"
			}
			if n == 0 {
				if d == 0 {
					return nil, nil, unprocessable("inputs is empty")
				}
				return nil, nil, unprocessable("inputs holds an empty array")
			}
			if leaf < 0 {
				return nil, nil, unprocessable("%s: want an array of numbers", where())
			}
			if shape[d] < 0 {
				shape[d] = n
			} else if n != shape[d] {
				return nil, nil, unprocessable("%s: want an array of %d, got an array of %d (inputs must be rectangular, shape %v)", where(), shape[d], n, shape)
			}
		case !elem:
			return nil, nil, badJSON(s.invalid(c, "after an array element"))
		case c == '[':
			if leaf >= 0 && d+1 > leaf {
				return nil, nil, unprocessable("%s: want a number, got an array (inputs must have shape %v)", inputsPath(count)+"["+strconv.FormatInt(count[d], 10)+"]", shape)
			}
			s.skip()
			elem, comma = true, false
			count[d]++
			count = append(count, 0)
			if len(shape) < len(count) {
				shape = append(shape, -1)
			}
		case c == '-' || c >= '0' && c <= '9':
			if leaf < 0 {
				leaf = d
				shape = shape[:d+1]
			}
			if d != leaf {
				return nil, nil, unprocessable("%s: want an array of %d, got a number (inputs must be rectangular, shape %v)", inputsPath(count)+"["+strconv.FormatInt(count[d], 10)+"]", shape[d+1], shape)
			}
			v, err := s.float()
			if err != nil {
				return nil, nil, badJSON(err)
			}
			if math.Abs(v) > math.MaxFloat32 {
				return nil, nil, unprocessable("%s: %s is out of float32 range", inputsPath(count)+"["+strconv.FormatInt(count[d], 10)+"]", s.buf)
			}
			if len(data) >= maxValues {
				return nil, nil, &requestError{413, fmt.Errorf("inputs hold more than %d values", maxValues)}
			}
			if len(data) == cap(data) {
				grown := make([]float32, len(data), min(max(2*cap(data), 1024), maxValues))
				copy(grown, data)
				data = grown
			}
			data = append(data, float32(v))
			count[d]++
			elem, comma = false, false
		default:
			if leaf < 0 || d == leaf {
				return nil, nil, unprocessable("%s: want a number, got %s (inputs must have shape %v)", inputsPath(count)+"["+strconv.FormatInt(count[d], 10)+"]", kindOf(c), shape)
			}
			return nil, nil, unprocessable("%s: want an array, got %s", inputsPath(count)+"["+strconv.FormatInt(count[d], 10)+"]", kindOf(c))
		}
	}
	return data, shape, nil
}

// inputsPath names the element being read, as inputs[i][j] (a parent's count includes the open
// child, hence the − 1).
func inputsPath(count []int64) string {
	var b strings.Builder
	b.WriteString("inputs")
	for _, c := range count[:len(count)-1] {
		b.WriteString("[" + strconv.FormatInt(c-1, 10) + "]")
	}
	return b.String()
}

func badJSONOrNil(err error) error {
	if err != nil {
		return badJSON(err)
	}
	return nil
}

// kindOf names the JSON value starting with c.
func kindOf(c byte) string {
	switch {
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return fmt.Sprintf("invalid character %q", c)
}

// scanner reads JSON tokens from a buffered stream.
type scanner struct {
	r   *bufio.Reader
	off int64
	buf []byte
}

// peek returns the next byte that is not white space, without consuming it.
func (s *scanner) peek() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			s.off++
			continue
		}
		s.r.UnreadByte()
		return c, nil
	}
}

// skip consumes the byte peek returned.
func (s *scanner) skip() {
	s.r.ReadByte()
	s.off++
}

func (s *scanner) invalid(c byte, where string) error {
	return fmt.Errorf("invalid character %q %s at offset %d", c, where, s.off)
}

func (s *scanner) expect(want byte) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != want {
		return s.invalid(c, fmt.Sprintf("where %q belongs", want))
	}
	s.skip()
	return nil
}

func (s *scanner) literal(word string) error {
	for i := 0; i < len(word); i++ {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		s.off++
		if c != word[i] {
			return s.invalid(c, "in a literal")
		}
	}
	return nil
}

// maxKey bounds an object key's length.
const maxKey = 256

// str reads a JSON string (an object key).
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	s.buf = append(s.buf[:0], '"')
	escaped := false
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return "", err
		}
		s.off++
		if c < 0x20 {
			return "", s.invalid(c, "in a string")
		}
		s.buf = append(s.buf, c)
		if len(s.buf) > maxKey {
			return "", fmt.Errorf("json: object key longer than %d bytes", maxKey)
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			var key string
			if err := json.Unmarshal(s.buf, &key); err != nil {
				return "", err
			}
			return key, nil
		}
	}
}

// number reads a JSON number's text, checked against the JSON grammar.
func (s *scanner) number() (string, error) {
	b, err := s.numberBytes()
	return string(b), err
}

// numberBytes is number, the text left in s.buf.
func (s *scanner) numberBytes() ([]byte, error) {
	s.buf = s.buf[:0]
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			s.r.UnreadByte()
			break
		}
		s.off++
		s.buf = append(s.buf, c)
		if len(s.buf) > 64 {
			return nil, errors.New("json: number longer than 64 characters")
		}
	}
	if !validNumber(s.buf) {
		return nil, fmt.Errorf("invalid number %q at offset %d", s.buf, s.off)
	}
	return s.buf, nil
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float reads a JSON number as the float64 nearest to it. A plain decimal of at most 15 digits
// is converted exactly by one correctly rounded division (Clinger's fast path); anything else
// goes through strconv.ParseFloat. s.buf keeps the text.
func (s *scanner) float() (float64, error) {
	text, err := s.numberBytes()
	if err != nil {
		return 0, err
	}
	var mant uint64
	digits, frac, dot, neg := 0, 0, false, false
	for i, c := range text {
		switch {
		case c == '-' && i == 0:
			neg = true
		case c == '.':
			dot = true
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		default:
			digits = 99 // an exponent: the slow path
		}
	}
	if digits <= 15 {
		v := float64(mant) / pow10[frac]
		if neg {
			v = -v
		}
		return v, nil
	}
	v, err := strconv.ParseFloat(string(text), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, err
	}
	return v, nil
}

// validNumber checks b against JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
