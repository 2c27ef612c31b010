package inject_test

import (
	"fmt"
	"log"
	"os"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func ExampleApply() {
	m, err := onnximport.Load("../testdata/models/cnn-bn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	rep, err := inject.Apply(m, inject.Options{Augment: []string{"rotate"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// The regs are recorded in the model for the trainer and the exporter; m.Save(path) writes it.
	regs, err := inject.Regs(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s, init %.3g, %d nodes\n", regs[0].Name, regs[0].Kind, regs[0].Init, len(regs[0].Nodes))
	// Output:
	// POINT                    OP                  SHAPE       PARAMETER                                    REG
	// /bn1/BatchNormalization  BatchNormalization  ?×32×28×28  xreg.noise.bn1.BatchNormalization.log_sigma  noise additive layer
	// /bn2/BatchNormalization  BatchNormalization  ?×64×14×14  xreg.noise.bn2.BatchNormalization.log_sigma  noise additive layer
	// input                    input               ?×1×28×28   xreg.augment.rotate.magnitude                augment rotate
	// opset raised from 13 to 16 for GridSample
	// xreg.noise.bn1.BatchNormalization.log_sigma: noise, init -2, 4 nodes
}
