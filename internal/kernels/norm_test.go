package kernels

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestBatchNormFixtures(t *testing.T) {
	for _, c := range loadFixtures(t, "norm.json") {
		c := c
		if c.Op != "BatchNormalization" {
			continue
		}
		training := c.num("training", 0) != 0
		var states []*BatchNorm
		build := func(dt tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
				mode := Eval
				if training {
					mode = Train
				}
				bn, err := NewBatchNorm(c.Name, denseOf(dt, c.Inputs["mean"]), denseOf(dt, c.Inputs["var"]), c.num("momentum", 0.9), c.num("epsilon", 1e-5), mode)
				if err != nil {
					return nil, err
				}
				states = append(states, bn)
				return BatchNormalization(in["x"], in["scale"], in["B"], bn)
			}
		}
		t.Run(c.Name, func(t *testing.T) {
			for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
				t.Run(dt.String(), func(t *testing.T) {
					h := newHarness(t, &c, dt, []string{"B", "scale", "x"}, build(dt))
					bn := states[len(states)-1]
					h.run(t)
					if training {
						// Once more with the initial running statistics: the second run checks that
						// reused output buffers keep nothing from the first.
						if err := bn.SetStats(c.Inputs["mean"].Data, c.Inputs["var"].Data); err != nil {
							t.Fatal(err)
						}
					}
					h.run(t)
					atol, rtol := tolFor(dt)
					checkClose(t, "y", f64s(t, h.y.Value()), c.Y, atol, rtol)
					for _, name := range h.wrt {
						checkClose(t, "d"+name, f64s(t, h.grads[name].Value()), c.Grads[name], atol, rtol)
					}
					// One forward pass in Train mode leaves torch's running statistics; Eval leaves
					// the initial ones (torch does not update them either).
					mean, variance := bn.Stats()
					if dt == tensor.Float64 {
						atol, rtol = 1e-15, 1e-14
					}
					checkClose(t, "running mean", mean, c.Running["mean"], atol, rtol)
					checkClose(t, "running var", variance, c.Running["var"], atol, rtol)
					// Evaluation passes must not move the running statistics.
					for _, m := range []Mode{Eval, TrainFrozen} {
						bn.SetMode(m)
						h.run(t)
						m2, v2 := bn.Stats()
						checkClose(t, "running mean after "+m.String(), m2, fxArray{Data: mean}, 1e-300, 0)
						checkClose(t, "running var after "+m.String(), v2, fxArray{Data: variance}, 1e-300, 0)
					}
				})
			}
			t.Run("fd", func(t *testing.T) {
				h := newHarness(t, &c, tensor.Float64, []string{"B", "scale", "x"}, build(tensor.Float64))
				if training {
					states[len(states)-1].SetMode(TrainFrozen)
				}
				h.checkFD(t, 1e-6)
			})
		})
	}
}

// TestBatchNormTrainThenEval checks that after a training step, Eval mode normalises with the
// updated running statistics: y = scale·(x−m)/sqrt(v+ε)+B computed by hand.
func TestBatchNormTrainThenEval(t *testing.T) {
	g := gorgonia.NewGraph()
	xv := tensor.New(tensor.WithShape(4, 1), tensor.WithBacking([]float64{1, 2, 3, 6}))
	x := gorgonia.NodeFromAny(g, xv, gorgonia.WithName("x"))
	scale := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2})), gorgonia.WithName("s"))
	bias := gorgonia.NodeFromAny(g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0.5})), gorgonia.WithName("b"))
	mean := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0}))
	variance := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1}))
	bn, err := NewBatchNorm("bn", mean, variance, 0.9, 0, Train)
	if err != nil {
		t.Fatal(err)
	}
	y, err := BatchNormalization(x, scale, bias, bn)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	// Batch mean 3, biased variance (4+1+0+9)/4 = 3.5, unbiased 14/3.
	// Running: mean 0.9·0+0.1·3 = 0.3, var 0.9·1+0.1·14/3.
	wantM, wantV := 0.3, 0.9+0.1*14.0/3
	m, v := bn.Stats()
	if math.Abs(m[0]-wantM) > 1e-15 || math.Abs(v[0]-wantV) > 1e-15 {
		t.Fatalf("running stats %v %v, want %v %v", m, v, wantM, wantV)
	}
	got := f64s(t, y.Value())
	for i, xi := range []float64{1, 2, 3, 6} {
		if want := 2*(xi-3)/math.Sqrt(3.5) + 0.5; math.Abs(got[i]-want) > 1e-14 {
			t.Errorf("train y[%d] = %v, want %v", i, got[i], want)
		}
	}
	bn.SetMode(Eval)
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got = f64s(t, y.Value())
	for i, xi := range []float64{1, 2, 3, 6} {
		if want := 2*(xi-wantM)/math.Sqrt(wantV) + 0.5; math.Abs(got[i]-want) > 1e-14 {
			t.Errorf("eval y[%d] = %v, want %v", i, got[i], want)
		}
	}
	if err := bn.SetStats([]float64{1}, []float64{4}); err != nil {
		t.Fatal(err)
	}
	if m, v := bn.Stats(); m[0] != 1 || v[0] != 4 {
		t.Errorf("after SetStats: %v %v", m, v)
	}
	if err := bn.SetStats([]float64{1, 2}, []float64{4}); err == nil {
		t.Error("SetStats with the wrong length: no error")
	}
	if st := bnStatsNode(g, bn); st == nil {
		t.Error("BatchNormOf finds no statistics op in the graph")
	}
}

func TestBatchNormErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(1, 3, 2, 2), gorgonia.WithName("x"))
	s := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(3), gorgonia.WithName("s"))
	b := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(3), gorgonia.WithName("b"))
	vec := func(n int, dt tensor.Dtype) *tensor.Dense { return tensor.New(tensor.WithShape(n), tensor.Of(dt)) }
	if _, err := NewBatchNorm("a", vec(3, tensor.Float64), vec(2, tensor.Float64), 0.9, 1e-5, Train); err == nil {
		t.Error("mismatched running statistics: no error")
	}
	if _, err := NewBatchNorm("b", vec(3, tensor.Float64), vec(3, tensor.Float64), 1.5, 1e-5, Train); err == nil {
		t.Error("momentum 1.5: no error")
	}
	bn4, _ := NewBatchNorm("c", vec(4, tensor.Float64), vec(4, tensor.Float64), 0.9, 1e-5, Train)
	if _, err := BatchNormalization(x, s, b, bn4); err == nil {
		t.Error("4 running statistics for 3 channels: no error")
	}
	bn32, _ := NewBatchNorm("d", vec(3, tensor.Float32), vec(3, tensor.Float32), 0.9, 1e-5, Train)
	if _, err := BatchNormalization(x, s, b, bn32); err == nil {
		t.Error("float32 statistics for a float64 input: no error")
	}
	// Training needs more than one value per channel (the unbiased variance is undefined).
	bn, _ := NewBatchNorm("e", vec(3, tensor.Float64), vec(3, tensor.Float64), 0.9, 1e-5, Train)
	x1 := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(1, 3), gorgonia.WithName("x1"))
	y, err := BatchNormalization(x1, s, b, bn)
	if err != nil {
		t.Fatal(err)
	}
	_ = y
	if _, err := bnStatsNode(g, bn).Op().Do(tensor.New(tensor.WithShape(1, 3), tensor.Of(tensor.Float64))); err == nil {
		t.Error("training on one value per channel: no error")
	}
}

func TestLayerNormFixtures(t *testing.T) {
	for _, c := range loadFixtures(t, "norm.json") {
		c := c
		if c.Op != "LayerNormalization" {
			continue
		}
		build := func(tensor.Dtype) opBuilder {
			return func(in map[string]*gorgonia.Node) (*gorgonia.Node, error) {
				return LayerNormalization(in["x"], in["scale"], in["B"], int(c.num("axis", -1)), c.num("epsilon", 1e-5))
			}
		}
		t.Run(c.Name, func(t *testing.T) {
			runFixture(t, &c, c.gradNames(), build)
			fdCheck(t, &c, c.gradNames(), build(tensor.Float64))
		})
	}
}

func TestLayerNormErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(2, 4), gorgonia.WithName("x"))
	s := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(3), gorgonia.WithName("s"))
	if _, err := LayerNormalization(x, s, nil, -1, 1e-5); err == nil {
		t.Error("scale of 3 for rows of 4: no error")
	}
	if _, err := LayerNormalization(x, nil, nil, 2, 1e-5); err == nil {
		t.Error("axis 2 of a matrix: no error")
	}
	if _, err := LayerNormalization(x, nil, nil, -1, math.NaN()); err == nil {
		t.Error("NaN epsilon: no error")
	}
}

// bnStatsNode finds the statistics node of bn in g through BatchNormOf.
func bnStatsNode(g *gorgonia.ExprGraph, bn *BatchNorm) *gorgonia.Node {
	for _, n := range g.AllNodes() {
		if s, ok := BatchNormOf(n.Op()); ok && s == bn {
			return n
		}
	}
	return nil
}
