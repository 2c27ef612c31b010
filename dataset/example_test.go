package dataset_test

import (
	"fmt"
	"log"

	"github.com/xreg-onnx/xreg-onnx/dataset"
)

func ExampleLoad() {
	// An IDX images file; its labels come from tiny-labels-idx1-ubyte next to it.
	s, err := dataset.Load("testdata/idx/tiny-images-idx3-ubyte", dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	x, y := s.Example(0)
	fmt.Printf("%d examples of shape %v, %d classes\n", s.Len(), s.Shape, s.Classes)
	fmt.Printf("example 0: label %d, first pixels %.4f %.4f\n", y, x[0], x[1])

	// The same file as flat vectors for an MLP, and a file whose labels are out of range.
	flat, err := dataset.Load("testdata/idx/tiny-images-idx3-ubyte", dataset.Options{Shape: []int{12}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("flat:", flat.Shape)
	_, err = dataset.Load("testdata/npy/x_bad.npy", dataset.Options{Classes: 10})
	fmt.Println(err)
	// Output:
	// 5 examples of shape [1 4 3], 10 classes
	// example 0: label 9, first pixels 0.0000 1.0000
	// flat: [12]
	// dataset: testdata/npy/y_bad.npy: label 12 at row 5 out of range [0,10)
}

func ExampleSet_Split() {
	s, err := dataset.Load("testdata/idx/tiny-images-idx3-ubyte", dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// Carve 40 % off as the regularization set; the same seed carves the same examples.
	train, reg, err := s.Split(0.4, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.Len(), "training examples,", reg.Len(), "regularization examples")
	// Output:
	// 3 training examples, 2 regularization examples
}

func ExampleSet_Batches() {
	s, err := dataset.Load("testdata/npy/x.npy", dataset.Options{})
	if err != nil {
		log.Fatal(err)
	}
	rng := dataset.NewRand(1) // one generator for all epochs: a new order each epoch
	for epoch := range 2 {
		for b := range s.Batches(4, rng, false) {
			fmt.Printf("epoch %d: %d examples, %d values\n", epoch, len(b.Y), len(b.X))
		}
	}
	// Output:
	// epoch 0: 4 examples, 24 values
	// epoch 0: 2 examples, 12 values
	// epoch 1: 4 examples, 24 values
	// epoch 1: 2 examples, 12 values
}
