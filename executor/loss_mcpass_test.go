package executor

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestMCPassesMatchMCNLL: observing k passes one at a time gives the closed-form MC NLL, and the
// surrogate gradients of the k passes are the rows of the MC NLL's gradient (checked against
// finite differences of the closed form).
func TestMCPassesMatchMCNLL(t *testing.T) {
	for _, c := range []struct {
		name    string
		k, n, c int
		eps     float64
	}{
		{"k4", 4, 3, 5, 0},
		{"k2 one example", 2, 1, 3, 0},
		{"k3 smoothed", 3, 4, 6, 0.1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			z := make([]float64, c.k*c.n*c.c)
			for i := range z {
				z[i] = rng.NormFloat64() * 3
			}
			labels := make([]int, c.n)
			for i := range labels {
				labels[i] = rng.IntN(c.c)
			}
			m := oneNodeModel(t, 13, "Identity", []testInput{param("Z", []int{c.n, c.c}, make([]float32, c.n*c.c))})
			net, err := Build(m, BuildOptions{Float64: true})
			if err != nil {
				t.Fatal(err)
			}
			mp, err := net.MCPassLoss("y", c.k, c.eps)
			if err != nil {
				t.Fatal(err)
			}
			if err := net.Grad(mp.Loss, "Z"); err != nil {
				t.Fatal(err)
			}
			if err := mp.SetLabels(labels); err != nil {
				t.Fatal(err)
			}
			if _, err := mp.Value(); err == nil {
				t.Fatal("Value before any pass was observed")
			}
			pass := func(r int) []float64 { return z[r*c.n*c.c : (r+1)*c.n*c.c] }
			for r := 0; r < c.k; r++ {
				zr := append([]float64(nil), pass(r)...)
				if err := mp.Observe(r, tensor.New(tensor.WithShape(c.n, c.c), tensor.WithBacking(zr))); err != nil {
					t.Fatal(err)
				}
			}
			want := mcNLLReference(z, c.k, c.n, c.c, labels, c.eps)
			got, err := mp.Value()
			if err != nil || math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("loss %v (%v), reference %v", got, err, want)
			}
			const h = 1e-6
			for r := 0; r < c.k; r++ {
				copy(net.Values["Z"].Float64s(), pass(r))
				if err := mp.SetPass(r); err != nil {
					t.Fatal(err)
				}
				if err := net.Forward(nil, Noise{}); err != nil {
					t.Fatal(err)
				}
				g, _ := net.GradValue("Z")
				for j, gj := range g.Float64s() {
					i := r*c.n*c.c + j
					orig := z[i]
					z[i] = orig + h
					up := mcNLLReference(z, c.k, c.n, c.c, labels, c.eps)
					z[i] = orig - h
					down := mcNLLReference(z, c.k, c.n, c.c, labels, c.eps)
					z[i] = orig
					if fd := (up - down) / (2 * h); math.Abs(gj-fd) > 1e-7+1e-5*math.Abs(fd) {
						t.Fatalf("pass %d: dL/dz[%d] = %v, finite difference %v", r, j, gj, fd)
					}
				}
			}
			// A gradient pass whose logits differ from the observed ones is refused.
			for i := range net.Values["Z"].Float64s() {
				net.Values["Z"].Float64s()[i] += 5 * float64(i%3)
			}
			if err := mp.SetPass(0); err != nil {
				t.Fatal(err)
			}
			if err := net.Forward(nil, Noise{}); err == nil && c.c > 1 {
				t.Error("a pass with other logits than phase 1's was accepted")
			}
		})
	}
}

func TestMCPassesErrors(t *testing.T) {
	m := oneNodeModel(t, 13, "Identity", []testInput{param("Z", []int{2, 3}, make([]float32, 6))})
	net, err := Build(m, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.MCPassLoss("nope", 2, 0); err == nil {
		t.Error("unknown output accepted")
	}
	if _, err := net.MCPassLoss("y", 2, 1); err == nil {
		t.Error("smoothing 1 accepted")
	}
	mp, err := net.MCPassLoss("y", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.SetLabels([]int{0, 3}); err == nil {
		t.Error("label 3 accepted for 3 classes")
	}
	if err := mp.SetLabels([]int{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := mp.Observe(2, tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6)))); err == nil {
		t.Error("pass 2 of 2 accepted")
	}
	if err := mp.Observe(0, tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(make([]float32, 6)))); err == nil {
		t.Error("logits of shape (3, 2) accepted for (2, 3)")
	}
	if err := mp.Observe(0, tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6)))); err != nil {
		t.Fatal(err)
	}
	if err := mp.SetPass(0); err == nil {
		t.Error("SetPass with pass 1 unobserved accepted")
	}
}

// TestMCNLLWeights: weighted examples give Σ_i w_i ℓ_i, with ℓ_i the closed-form per-example MC
// NLL, and the gradient of the weighted loss matches finite differences of that sum.
func TestMCNLLWeights(t *testing.T) {
	const k, n, c = 3, 4, 5
	rng := rand.New(rand.NewPCG(5, 6))
	z := make([]float64, k*n*c)
	for i := range z {
		z[i] = rng.NormFloat64() * 2
	}
	labels := []int{0, 4, 2, 2}
	w := []float64{0.25, 0, 1.5, 0.1}
	// ref is Σ_i w_i ℓ_i from the closed form of one example at a time.
	ref := func() float64 {
		var total float64
		for i := 0; i < n; i++ {
			zi := make([]float64, 0, k*c)
			for r := 0; r < k; r++ {
				zi = append(zi, z[(r*n+i)*c:(r*n+i+1)*c]...)
			}
			total += w[i] * mcNLLReference(zi, k, 1, c, labels[i:i+1], 0)
		}
		return total
	}
	m := oneNodeModel(t, 13, "Identity", []testInput{param("Z", []int{k * n, c}, make([]float32, k*n*c))})
	net, err := Build(m, BuildOptions{Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	copy(net.Values["Z"].Float64s(), z)
	loss, err := net.MCNLL("y", k, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Grad(loss, "Z"); err != nil {
		t.Fatal(err)
	}
	if err := net.SetMCWeights([]float64{1}); err == nil {
		t.Error("1 weight accepted for 4 examples")
	}
	if err := net.SetMCWeights([]float64{1, -1, 0, 0}); err == nil {
		t.Error("a negative weight accepted")
	}
	if err := net.SetMCLabels(labels); err != nil {
		t.Fatal(err)
	}
	if err := net.SetMCWeights(w); err != nil {
		t.Fatal(err)
	}
	if err := net.Forward(nil, Noise{}); err != nil {
		t.Fatal(err)
	}
	got, _ := net.LossValue()
	if want := ref(); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Fatalf("weighted loss %v, reference %v", got, want)
	}
	g, _ := net.GradValue("Z")
	const h = 1e-6
	for i, gi := range g.Float64s() {
		orig := z[i]
		z[i] = orig + h
		up := ref()
		z[i] = orig - h
		down := ref()
		z[i] = orig
		if fd := (up - down) / (2 * h); math.Abs(gi-fd) > 1e-7+1e-5*math.Abs(fd) {
			t.Fatalf("dL/dz[%d] = %v, finite difference %v", i, gi, fd)
		}
	}
}
