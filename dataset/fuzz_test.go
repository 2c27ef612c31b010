package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzNPY: any byte string read as a .npy array gives a float32 array of its declared shape or
// an error naming the file; never a panic (npyio panicked on header lengths 0, 2 and 65535 and
// on truncated headers: those are seeds).
func FuzzNPY(f *testing.F) {
	good := npyBytes("<f4", "(2, 2)", make([]byte, 16))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:20])
	f.Add([]byte("\x93NUMPY\x01\x00\x00\x00"))
	f.Add([]byte("\x93NUMPY\x01\x00\x02\x00{}"))
	f.Add([]byte("\x93NUMPY\x01\x00\xff\xff"))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"))
	f.Add(npyBytes(">f8", "(3,)", make([]byte, 24)))
	f.Add(npyBytes("<f4", "(1000000, 1000000)", nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, shape, err := readArrayBytes("fuzz.npy", data)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("fuzz.npy")) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if n := prod(shape); n != len(x) {
			t.Fatalf("shape %v holds %d values, got %d", shape, n, len(x))
		}
	})
}

// npyBytes builds a version-1 .npy file.
func npyBytes(descr, shape string, data []byte) []byte {
	h := []byte("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }")
	for (10+len(h)+1)%64 != 0 {
		h = append(h, ' ')
	}
	h = append(h, '\n')
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(out, h...), data...)
}

// FuzzLoadFile: any byte string as a data file (IDX, NPY, NPZ, CIFAR-10, gzipped or not) loads or
// gives an error naming the file; never a panic.
func FuzzLoadFile(f *testing.F) {
	for _, p := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "fmnist-small", p))
		if err == nil {
			f.Add(b[:min(len(b), 4096)])
		}
	}
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte("PK\x03\x04"))
	f.Add(npyBytes("<f4", "(2, 2)", make([]byte, 16)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"x-idx3-ubyte", "data_batch_1.bin"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Load(p, Options{Labels: p})
			if err != nil {
				if !bytes.Contains([]byte(err.Error()), []byte(name)) && !bytes.Contains([]byte(err.Error()), []byte("dataset:")) {
					t.Fatalf("error %q names neither the file nor the package", err)
				}
				continue
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("a loaded set is invalid: %v", err)
			}
		}
	})
}
