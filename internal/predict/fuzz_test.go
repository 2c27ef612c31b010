package predict

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeRequest: any request body decodes to a tensor whose values fill its nested shape, or
// to an error with a 4xx status; never a panic, and never more values than the limit.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"inputs": [[1, 2], [3, -1]]}`, `{"inputs": [1, 2, 3, -1], "shape": [2, 2]}`, `{"inputs": [[[[1], [2]]], [[[3], [-1]]]]}`,
		`{"inputs": [[1, 2], [3]]}`, `{"inputs": [[1, [2]]]}`, `{"inputs": [[1, 2]], "shape": ["a"]}`, `{"inputs": [[1e39]]}`,
		`{"inputs": [[1, 2]]} {}`, `{"input": 1}`, `{"inputs": null}`, `{"inputs": [[]]}`, `{"inputs": [1,]}`, `{"inputs": [-0.5e-3, 01]}`,
		`{"inputs": [1, 2], "shape": [3, 6148914691236517206]}`, `{"inputs": "\u0041"}`, `{"\u0069nputs": [1]}`, ``, `[`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const limit = 1 << 12
		data, nested, _, err := decodeRequest(bytes.NewReader(body), limit)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.code < 400 || re.code > 499 {
				t.Fatalf("error %v is not a 4xx request error", err)
			}
			return
		}
		if len(data) > limit {
			t.Fatalf("%d values, limit %d", len(data), limit)
		}
		if n := numel(nested); n != int64(len(data)) {
			t.Fatalf("nested shape %v holds %d values, decoded %d", nested, n, len(data))
		}
	})
}

// BenchmarkDecodeRequest decodes an 8 MiB body of 64-value rows.
func BenchmarkDecodeRequest(b *testing.B) {
	var buf bytes.Buffer
	r := newBody(8 << 20)
	buf.ReadFrom(r)
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, _, _, err := decodeRequest(bytes.NewReader(buf.Bytes()), 1<<30); err != nil {
			b.Fatal(err)
		}
	}
}
