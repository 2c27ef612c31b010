package export_test

import (
	"fmt"
	"log"

	"github.com/xreg-onnx/xreg-onnx/export"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func ExampleApply() {
	m, err := onnximport.Load("../testdata/models/cnn-bn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	// What `xreg-onnx inject` does; `xreg-onnx train` would then update θ, φ and the running
	// statistics, and record its provenance in metadata "xreg.train.*".
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("injected:", len(m.Graph.Nodes), "nodes")

	rep, err := export.Apply(m, export.Options{Version: "0.1.0"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exported:", len(m.Graph.Nodes), "nodes,", rep.Method, rep.Output)
	for _, r := range rep.Regs {
		fmt.Printf("  %s noise after %s: σ = %.4f\n", r.Mode, r.Point, r.Sigma[0])
	}
	method, _ := m.Metadata(export.MetadataMethod)
	fmt.Println("metadata", export.MetadataMethod, "=", method)
	// m.Save("model.onnx") writes it atomically.

	// Output:
	// injected: 18 nodes
	// exported: 10 nodes, deterministic logits
	//   additive noise after /bn1/BatchNormalization: σ = 0.1353
	//   additive noise after /bn2/BatchNormalization: σ = 0.1353
	// metadata xreg.export.method = deterministic
}

func ExampleApply_monteCarlo() {
	m, err := onnximport.Load("../testdata/models/cnn-bn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := inject.Apply(m, inject.Options{}); err != nil {
		log.Fatal(err)
	}
	rep, err := export.Apply(m, export.Options{MC: 8, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s-%d: output %q holds %s\n", rep.Method, rep.MC, rep.ScoreOutput, rep.Output)
	for _, n := range m.Graph.Nodes {
		if n.Name == "xreg/mc/tile" || n.Name == "xreg/mc/mean" {
			fmt.Println(" ", n.Name, n.OpType, n.Inputs[0], "→", n.Outputs[0])
		}
	}
	// Output:
	// mc-8: output "logits" holds probabilities
	//   xreg/mc/tile Concat input → xreg/mc/tile
	//   xreg/mc/mean ReduceMean xreg/mc/softmax → logits
}
