package executor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

func TestReLU32(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	const tiny float32 = math.SmallestNonzeroFloat32
	tests := []struct {
		name          string
		x, g          float32
		wantY, wantDx float32
	}{
		{"positive", 2.5, 3, 2.5, 3},
		{"negative", -2.5, 3, 0, 0},
		{"+0", 0, 3, 0, 0},
		{"-0", negZero, 3, 0, 0},
		{"denormal", tiny, -1, tiny, -1},
		{"-denormal", -tiny, -1, 0, 0},
		{"max", math.MaxFloat32, 1, math.MaxFloat32, 1},
		{"-inf", float32(math.Inf(-1)), 1, 0, 0},
		{"+inf", float32(math.Inf(1)), 1, float32(math.Inf(1)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, dx := []float32{7}, []float32{7}
			relu32([]float32{tt.x}, y)
			reluGrad32([]float32{tt.x}, []float32{tt.g}, dx)
			if y[0] != tt.wantY || math.Signbit(float64(y[0])) || dx[0] != tt.wantDx {
				t.Fatalf("relu(%v) = %v, grad %v; want %v, %v", tt.x, y[0], dx[0], tt.wantY, tt.wantDx)
			}
		})
	}
}

func TestParallelChunks(t *testing.T) {
	for _, n := range []int{0, 1, minChunk - 1, 2*minChunk + 7, 5*minChunk + 3} {
		hits := make([]int32, n)
		parallelChunks(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: element %d visited %d times", n, i, h)
			}
		}
	}
}

// TestDrawNoiseChunked checks that large noise tensors (filled chunk by chunk in parallel) are the
// same for any GOMAXPROCS and have the requested moments.
func TestDrawNoiseChunked(t *testing.T) {
	in := NoiseInput{Kind: NoiseNormal, Mean: 1, Scale: 2}
	n := 3*noiseChunk + 11
	draw := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		x := make([]float32, n)
		drawNoise(x, in, rand.New(rand.NewPCG(5, 6)))
		return x
	}
	a, b := draw(1), draw(4)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: %v with 1 proc, %v with 4", i, a[i], b[i])
		}
	}
	x := make([]float64, n)
	for i, v := range a {
		x[i] = float64(v)
	}
	mean, std := moments(x)
	// 4 standard errors of the mean (2/√n ≈ 0.0039) and of the std (2/√(2n) ≈ 0.0028).
	if math.Abs(mean-1) > 0.016 || math.Abs(std-2) > 0.012 {
		t.Fatalf("mean %.4f std %.4f, want 1 and 2", mean, std)
	}
	// Chunks must not repeat one another.
	if a[0] == a[noiseChunk] && a[1] == a[noiseChunk+1] {
		t.Fatal("chunks 0 and 1 start with the same values")
	}
}

// TestEachParallel checks that eachParallel visits every output element once with the operand
// offsets each gives, for broadcasts with one and several merged dimensions.
func TestEachParallel(t *testing.T) {
	tests := []struct {
		name      string
		a, b, out tensor.Shape
	}{
		{"same", tensor.Shape{64, 32, 28, 28}, tensor.Shape{64, 32, 28, 28}, tensor.Shape{64, 32, 28, 28}},
		{"scalar", tensor.Shape{64, 32, 28, 28}, tensor.Shape{}, tensor.Shape{64, 32, 28, 28}},
		{"channel", tensor.Shape{64, 32, 28, 28}, tensor.Shape{1, 32, 1, 1}, tensor.Shape{64, 32, 28, 28}},
		{"row", tensor.Shape{3, 1}, tensor.Shape{1, 70000}, tensor.Shape{3, 70000}},
		{"small", tensor.Shape{2, 3}, tensor.Shape{3}, tensor.Shape{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlan(tt.a, tt.b, tt.out)
			n := size(tt.out)
			wantA, wantB := make([]int, n), make([]int, n)
			p.each(func(o, ia, ib, m, sa, sb int) {
				for i := 0; i < m; i++ {
					wantA[o+i], wantB[o+i] = ia+i*sa, ib+i*sb
				}
			})
			gotA, gotB, hits := make([]int, n), make([]int, n), make([]int32, n)
			p.eachParallel(func(o, ia, ib, m, sa, sb int) {
				for i := 0; i < m; i++ {
					gotA[o+i], gotB[o+i] = ia+i*sa, ib+i*sb
					hits[o+i]++
				}
			})
			for i := range hits {
				if hits[i] != 1 || gotA[i] != wantA[i] || gotB[i] != wantB[i] {
					t.Fatalf("element %d: visited %d times, offsets (%d, %d), want (%d, %d)", i, hits[i], gotA[i], gotB[i], wantA[i], wantB[i])
				}
			}
		})
	}
}
