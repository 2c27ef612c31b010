package blas

import (
	"fmt"
	"strings"
	"testing"

	gblas "gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
)

// TestSelected checks that gorgonia.WhichBLAS is the implementation Name promises.
func TestSelected(t *testing.T) {
	got := fmt.Sprintf("%T", gorgonia.WhichBLAS())
	want := map[string]string{"openblas": "netlib", "gonum": "gonum"}[Name]
	if !strings.Contains(got, want) {
		t.Fatalf("Name %q but WhichBLAS is %s", Name, got)
	}
}

// TestSgemm checks that the selected BLAS multiplies a hand-computed 2×3 by 3×2 product.
func TestSgemm(t *testing.T) {
	tests := []struct {
		name   string
		ta, tb bool
		a, b   []float32
		want   []float32
	}{
		{"NN", false, false, []float32{1, 2, 3, 4, 5, 6}, []float32{7, 8, 9, 10, 11, 12}, []float32{58, 64, 139, 154}},
		// Aᵀ stored as 3×2 and Bᵀ as 2×3 give the same product.
		{"TT", true, true, []float32{1, 4, 2, 5, 3, 6}, []float32{7, 9, 11, 8, 10, 12}, []float32{58, 64, 139, 154}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta, tb := gonumTrans(tt.ta), gonumTrans(tt.tb)
			lda, ldb := 3, 2
			if tt.ta {
				lda = 2
			}
			if tt.tb {
				ldb = 3
			}
			c := make([]float32, 4)
			gorgonia.WhichBLAS().Sgemm(ta, tb, 2, 2, 3, 1, tt.a, lda, tt.b, ldb, 0, c, 2)
			for i := range c {
				if c[i] != tt.want[i] {
					t.Fatalf("%s: C = %v, want %v", Name, c, tt.want)
				}
			}
		})
	}
}

func gonumTrans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}
