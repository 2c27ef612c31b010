package executor

import (
	"math/rand/v2"
	"testing"
)

// TestPCGNormalMatchesMathRand checks the inlined generator of drawNoise against math/rand/v2:
// the same seeds give the same normal values, bit for bit, through the ziggurat's rare paths
// (base strip and wedges) as well as its rectangles.
func TestPCGNormalMatchesMathRand(t *testing.T) {
	for _, seed := range [][2]uint64{{0, 0}, {1, 2}, {0xdeadbeef, 42}, {^uint64(0), 1 << 63}} {
		ref := rand.New(rand.NewPCG(seed[0], seed[1]))
		got := newPCGNormal(seed[0], seed[1])
		tail := 0
		for i := 0; i < 1_000_000; i++ {
			w, g := ref.NormFloat64(), got.norm()
			if w != g {
				t.Fatalf("seed %v draw %d: %v, math/rand/v2 %v", seed, i, g, w)
			}
			if w > 3.442619855899 || w < -3.442619855899 {
				tail++
			}
		}
		if tail == 0 {
			t.Errorf("seed %v: no draw beyond the base strip's edge: the slow path was not exercised", seed)
		}
	}
}

// TestFillNormalChunksMatchesMathRand checks drawNoise's chunk filler (two chunks side by side,
// then the rest one by one, the last chunk short) against one math/rand/v2 generator per chunk.
func TestFillNormalChunksMatchesMathRand(t *testing.T) {
	seeds := [][2]uint64{{1, 0}, {1, 1}, {1, 2}, {7, 3}, {5, 5}}
	x := make([]float32, len(seeds)*noiseChunk-7)
	for _, part := range [][2]int{{0, 3}, {3, len(seeds)}} { // as two workers would split them
		fillNormalChunks(x, seeds, part[0], part[1], 0.5, 2)
	}
	for c, s := range seeds {
		ref := rand.New(rand.NewPCG(s[0], s[1]))
		for i := c * noiseChunk; i < min((c+1)*noiseChunk, len(x)); i++ {
			if w := float32(0.5 + 2*ref.NormFloat64()); w != x[i] {
				t.Fatalf("chunk %d value %d: %v, math/rand/v2 %v", c, i, x[i], w)
			}
		}
	}
}
