package npytest

import (
	"path/filepath"
	"testing"
)

// The fixture input of mlp-ln is the first 64 Fashion-MNIST test images, scaled to [0, 1].
func TestReadFixture(t *testing.T) {
	x, shape, err := Read(filepath.Join("..", "..", "testdata", "models", "mlp-ln-op13.input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 64 || shape[1] != 784 || len(x) != 64*784 {
		t.Fatalf("shape %v, %d values", shape, len(x))
	}
	for _, v := range x {
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0, 1]", v)
		}
	}
	if _, _, err := Read("absent.npy"); err == nil {
		t.Error("missing file read")
	}
}
