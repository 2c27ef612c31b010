package calib_test

import (
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/xreg-onnx/xreg-onnx/calib"
)

func ExampleCompute() {
	probs := [][]float64{
		{0.7, 0.2, 0.1},
		{0.1, 0.6, 0.3},
		{0.25, 0.25, 0.5},
	}
	labels := []int{0, 2, 2}
	m, err := calib.Compute(probs, labels, 0) // 0: DefaultBins
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("accuracy %.4f\nNLL %.4f\nBrier %.4f\nECE %.4f over %d bins\n", m.Accuracy, m.NLL, m.Brier, m.ECE, len(m.Bins))
	for _, c := range m.PerClass {
		fmt.Printf("class %d: %d/%d\n", c.Class, c.Correct, c.Count)
	}

	// Logits are rejected with an error that says so.
	_, err = calib.Compute([][]float64{{2.1, -0.3, 0.4}}, []int{0}, 0)
	fmt.Println(err)
	// Output:
	// accuracy 0.6667
	// NLL 0.7513
	// Brier 0.4583
	// ECE 0.4667 over 15 bins
	// class 0: 1/1
	// class 1: 0/0
	// class 2: 1/2
	// calib: rows are not probability distributions: row 0 sums to 2.2, want 1 within 0.001 (if these are logits, convert them with Softmax)
}

func ExampleSoftmax() {
	p, err := calib.Softmax([][]float64{{0, math.Log(3)}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.2f\n", p)
	// Output:
	// [[0.25 0.75]]
}

func ExampleFitTemperature() {
	// The model gives class 0 probability 0.9 (logits ln 9 and 0) but is
	// right three times in four; softmax(z/2) gives 0.75.
	z := []float64{math.Log(9), 0}
	logits := [][]float64{z, z, z, z}
	labels := []int{0, 0, 0, 1}
	temp, err := calib.FitTemperature(logits, labels)
	if err != nil {
		log.Fatal(err)
	}
	scaled := make([][]float64, len(logits))
	for i, row := range logits {
		scaled[i] = []float64{row[0] / temp, row[1] / temp}
	}
	p, err := calib.Softmax(scaled)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("T = %.4f, p = %.4f\n", temp, p[0])
	// Output:
	// T = 2.0000, p = [0.7500 0.2500]
}

func ExampleWriteReport() {
	labels := []int{0, 1, 1, 0}
	original, err := calib.Compute([][]float64{{0.95, 0.05}, {0.9, 0.1}, {0.2, 0.8}, {0.85, 0.15}}, labels, 0)
	if err != nil {
		log.Fatal(err)
	}
	tuned, err := calib.Compute([][]float64{{0.8, 0.2}, {0.6, 0.4}, {0.3, 0.7}, {0.75, 0.25}}, labels, 0)
	if err != nil {
		log.Fatal(err)
	}
	r := &calib.Report{
		Models: []calib.Model{
			{Name: "original", Metrics: original},
			{Name: "fine-tuned", Metrics: tuned},
		},
		Provenance: map[string]string{"model": "model.onnx"},
		Trajectory: calib.Trajectory{
			{Step: 0, Sigma: map[string]float64{"/bn1:noise": 0.10}},
			{Step: 100, Sigma: map[string]float64{"/bn1:noise": 0.14}},
		},
	}
	dir, err := os.MkdirTemp("", "calib-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := calib.WriteReport(dir, r); err != nil {
		log.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// reliability-fine-tuned.png
	// reliability-fine-tuned.svg
	// reliability-original.png
	// reliability-original.svg
	// report.html
	// report.json
	// report.md
	// sigma.png
	// sigma.svg
}
