package export_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

// BenchmarkLatency measures onnxruntime inference latency (one thread) of a fixture and of its
// exports (inject with defaults, then export), at batch 1 and 64. "<variant>" sub-benchmarks time
// one model alone; "<variant>÷original" ones run the export and the original alternately in the
// same loop and report the ratio of their median run times ("ratio"), which load on a shared
// machine affects far less than comparing separate runs.
//
//	go test -run '^$' -bench Latency -benchtime 200x ./export/
func BenchmarkLatency(b *testing.B) {
	orttest.Require(b)
	variants := []struct {
		name string
		opt  *export.Options // nil: the original model
	}{
		{"original", nil}, {"exported", &export.Options{}}, {"temperature", &export.Options{Temperature: 1.5}}, {"mc-4", &export.Options{MC: 4}},
	}
	for _, name := range []string{"cnn-bn", "mlp-ln-op17", "wrn-16-1"} {
		sessions := map[string]*ort.Session{}
		for _, v := range variants {
			m := load(b, name)
			if v.opt != nil {
				m = injected(b, name, inject.Options{})
				if _, err := export.Apply(m, *v.opt); err != nil {
					b.Fatal(err)
				}
			}
			data, err := m.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			s, err := ort.OpenBytes(data, v.name, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sessions[v.name] = s
		}
		for _, batch := range []int{1, 64} {
			x, shape := fixtureInput(b, name, batch)
			in := ort.Tensor{Shape: shape, Float32: x}
			run := func(b *testing.B, s *ort.Session) time.Duration {
				t0 := time.Now()
				if _, err := s.Run(in); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			for _, v := range variants {
				b.Run(fmt.Sprintf("%s/batch=%d/%s", name, batch, v.name), func(b *testing.B) {
					s := sessions[v.name]
					for range 3 { // warm-up
						run(b, s)
					}
					b.ResetTimer()
					for range b.N {
						run(b, s)
					}
				})
			}
			for _, v := range []string{"exported", "temperature"} {
				b.Run(fmt.Sprintf("%s/batch=%d/%s÷original", name, batch, v), func(b *testing.B) {
					orig, exp := sessions["original"], sessions[v]
					for range 3 {
						run(b, orig)
						run(b, exp)
					}
					to, te := make([]time.Duration, b.N), make([]time.Duration, b.N)
					b.ResetTimer()
					for i := range b.N {
						if i%2 == 0 { // alternate the order so neither profits from running second
							to[i], te[i] = run(b, orig), run(b, exp)
						} else {
							te[i], to[i] = run(b, exp), run(b, orig)
						}
					}
					mo, me := median(to), median(te)
					b.ReportMetric(float64(mo.Microseconds()), "orig-µs")
					b.ReportMetric(float64(me.Microseconds()), "export-µs")
					b.ReportMetric(float64(me)/float64(mo), "ratio")
				})
			}
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
