package dataset

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds corrupted fixture files to Load, which must return an error or a valid set and
// never panic. The labels files stay intact, so that the inputs' readers are reached.
func FuzzLoad(f *testing.F) {
	seeds := map[string]string{
		"x.npy":                  "testdata/npy/x.npy",
		"data-images-idx3-ubyte": "testdata/idx/tiny-images-idx3-ubyte",
		"test_batch.bin":         "testdata/cifar/test_batch.bin",
		"data.npz":               "testdata/npz/keys.npz",
	}
	names := []string{"x.npy", "data-images-idx3-ubyte", "test_batch.bin", "data.npz"}
	for i, name := range names {
		b, err := os.ReadFile(seeds[name])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/3])
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		dir := t.TempDir()
		for from, to := range map[string]string{
			"testdata/npy/y.npy":                  "y.npy",
			"testdata/idx/tiny-labels-idx1-ubyte": "data-labels-idx1-ubyte",
		} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, names[int(which)%len(names)])
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(path, Options{XKey: "x_train", YKey: "y_train"})
		if err == nil {
			if err := s.Validate(); err != nil {
				t.Errorf("Load returned an invalid set: %v", err)
			}
		}
	})
}
