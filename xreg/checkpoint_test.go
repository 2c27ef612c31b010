package xreg

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/optim"
)

func ckpt(n int) *Checkpoint {
	vals := func(off float32) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = off + float32(i)*0.5
		}
		return out
	}
	return &Checkpoint{Model: "m.onnx", Fingerprint: "fp", Seed: 7, Step: 12, Epoch: 3, EpochStart: 10, TrainSize: 640, LogLines: 5,
		Values: map[string][]float32{"w": vals(1), "b": {float32(math.Inf(-1)), -0, 3}},
		Params: optim.State{Kind: "adam", Steps: 12, Slots: map[string][]float32{"m/w": vals(2), "v/w": vals(3)}},
		Regs:   optim.State{Kind: "sgd", Steps: 2, Slots: map[string][]float32{"s": {4}}}}
}

// TestCheckpointRoundTrip: every field and array comes back bit for bit.
func TestCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.ckpt")
	want := ckpt(1000)
	if err := SaveCheckpoint(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != want.Model || got.Fingerprint != want.Fingerprint || got.Seed != want.Seed || got.Step != want.Step ||
		got.Epoch != want.Epoch || got.EpochStart != want.EpochStart || got.TrainSize != want.TrainSize || got.LogLines != want.LogLines ||
		got.Params.Kind != "adam" || got.Params.Steps != 12 || got.Regs.Kind != "sgd" || got.Regs.Steps != 2 {
		t.Fatalf("header: got %+v", got)
	}
	for _, pair := range [][2]map[string][]float32{{got.Values, want.Values}, {got.Params.Slots, want.Params.Slots}, {got.Regs.Slots, want.Regs.Slots}} {
		if len(pair[0]) != len(pair[1]) {
			t.Fatalf("%d arrays, want %d", len(pair[0]), len(pair[1]))
		}
		for k, w := range pair[1] {
			g := pair[0][k]
			if len(g) != len(w) {
				t.Fatalf("%s: %d values, want %d", k, len(g), len(w))
			}
			for i := range w {
				if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
					t.Fatalf("%s[%d] = %v, want %v", k, i, g[i], w[i])
				}
			}
		}
	}
}

// TestCheckpointStreams: writing the checkpoint of a 3 × 32 MB state allocates far less than the
// state (the arrays are streamed, not copied or encoded in memory).
func TestCheckpointStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.ckpt")
	c := ckpt(8 << 20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := SaveCheckpoint(path, c); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("SaveCheckpoint allocated %d MB for a %d MB state", alloc>>20, 3*32)
	}
}

// TestCheckpointDamaged: a truncated file, a file with trailing bytes and a file of another kind
// are refused with one line naming the file.
func TestCheckpointDamaged(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	if err := SaveCheckpoint(good, ckpt(100)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"truncated": b[:len(b)-7],
		"trailing":  append(append([]byte(nil), b...), 0),
		"other":     []byte("not a checkpoint at all"),
	} {
		path := filepath.Join(dir, name+".ckpt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCheckpoint(path)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s", name, err, path)
		}
	}
}
