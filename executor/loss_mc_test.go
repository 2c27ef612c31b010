package executor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mcNLLReference computes the MC-averaged NLL directly from its definition, in float64.
func mcNLLReference(z []float64, k, n, c int, labels []int, eps float64) float64 {
	var total float64
	for i := 0; i < n; i++ {
		mean := make([]float64, c)
		for r := 0; r < k; r++ {
			row := z[(r*n+i)*c : (r*n+i+1)*c]
			var s float64
			for _, v := range row {
				s += math.Exp(v)
			}
			for j, v := range row {
				mean[j] += math.Exp(v) / s / float64(k)
			}
		}
		for j := range mean {
			q := eps / float64(c)
			if j == labels[i] {
				q += 1 - eps
			}
			total -= q * math.Log(mean[j])
		}
	}
	return total / float64(n)
}

func TestMCNLLValueAndGradient(t *testing.T) {
	for _, c := range []struct {
		name    string
		k, n, c int
		eps     float64
	}{
		{"k1 plain cross-entropy", 1, 3, 4, 0},
		{"k1 label smoothing", 1, 3, 4, 0.1},
		{"k4 averaged", 4, 2, 3, 0},
		{"k3 smoothed", 3, 5, 10, 0.05},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			z := make([]float32, c.k*c.n*c.c)
			for i := range z {
				z[i] = float32(rng.NormFloat64() * 2)
			}
			labels := make([]int, c.n)
			for i := range labels {
				labels[i] = rng.IntN(c.c)
			}
			m := oneNodeModel(t, 13, "Identity", []testInput{param("Z", []int{c.k * c.n, c.c}, z)})
			net, err := Build(m, BuildOptions{Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			loss, err := net.MCNLL("y", c.k, c.eps)
			if err != nil {
				t.Fatal(err)
			}
			if err := net.Grad(loss, "Z"); err != nil {
				t.Fatal(err)
			}
			if err := net.SetMCLabels(labels); err != nil {
				t.Fatal(err)
			}
			if err := net.Forward(nil, Noise{}); err != nil {
				t.Fatal(err)
			}
			z64 := make([]float64, len(z))
			for i, v := range z {
				z64[i] = float64(v)
			}
			want := mcNLLReference(z64, c.k, c.n, c.c, labels, c.eps)
			got, _ := net.LossValue()
			if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("loss %v, reference %v", got, want)
			}
			g, err := net.GradValue("Z")
			if err != nil {
				t.Fatal(err)
			}
			grad := g.Float64s()
			const h = 1e-6
			for i := range z64 {
				orig := z64[i]
				z64[i] = orig + h
				up := mcNLLReference(z64, c.k, c.n, c.c, labels, c.eps)
				z64[i] = orig - h
				down := mcNLLReference(z64, c.k, c.n, c.c, labels, c.eps)
				z64[i] = orig
				fd := (up - down) / (2 * h)
				if math.Abs(grad[i]-fd) > 1e-7+1e-5*math.Abs(fd) {
					t.Fatalf("dL/dz[%d] = %v, finite difference %v", i, grad[i], fd)
				}
			}
		})
	}
}

func TestMCNLLErrors(t *testing.T) {
	m := oneNodeModel(t, 13, "Identity", []testInput{param("Z", []int{6, 3}, make([]float32, 18))})
	net, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.MCNLL("y", 4, 0); err == nil {
		t.Error("6 rows accepted for k = 4")
	}
	if _, err := net.MCNLL("nope", 1, 0); err == nil {
		t.Error("unknown output accepted")
	}
	if _, err := net.MCNLL("y", 2, 0); err != nil {
		t.Fatal(err)
	}
	if err := net.SetMCLabels([]int{0, 1}); err == nil {
		t.Error("2 labels accepted for 3 examples")
	}
	if err := net.SetMCLabels([]int{0, 1, 3}); err == nil {
		t.Error("label 3 accepted for 3 classes")
	}
}
