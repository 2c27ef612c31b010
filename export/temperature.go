package export

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/internal/onnxpb"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// Names of what temperature scaling adds.
const (
	temperatureInit = "xreg.temperature"
	temperatureNode = "xreg/temperature"
	untemperedValue = "xreg/logits"
)

// foldTemperature divides the scores of det by t through ed, an editor of det: the Div produces the output
// itself for a logits output, or feeds the final Softmax of a probabilities output.
func foldTemperature(ed *onnximport.Editor, s *scores, t float64) error {
	tn, err := ed.Initializer(onnximport.NewFloatTensor(temperatureInit, []int{}, []float32{float32(t)}))
	if err != nil {
		return fmt.Errorf("temperature: %w", err)
	}
	if s.probs {
		div := ed.Node(temperatureNode, "Div", []string{s.logits, tn}, "")
		ed.NodeProto(s.producer).Input[0] = div.GetOutput()[0]
		ed.After(s.logits, div)
	} else {
		in := renameOutput(ed, s, untemperedValue)
		ed.After(s.name, ed.Node(temperatureNode, "Div", []string{in, tn}, s.name))
	}
	return nil
}

// fitTemperature runs det in onnxruntime on set and returns the temperature minimising the NLL of
// softmax(logits/T).
func fitTemperature(det *onnximport.Model, s *scores, set *dataset.Set) (float64, error) {
	mp := proto.Clone(det.Proto).(*onnxpb.ModelProto)
	if s.probs {
		// Run the model up to the Softmax's input: the logits.
		mp.Graph.Output = []*onnxpb.ValueInfoProto{{
			Name: proto.String(s.logits),
			Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
				TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT))},
			}},
		}}
	} else {
		var keep []*onnxpb.ValueInfoProto
		for _, o := range mp.Graph.Output {
			if o.GetName() == s.name {
				keep = append(keep, o)
			}
		}
		mp.Graph.Output = keep
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return 0, err
	}
	ev, err := predict.Evaluate(data, modelName(det)+" (deterministic export)", set, predict.Logits)
	if err != nil {
		return 0, err
	}
	return calib.FitTemperature(ev.Scores, set.Y)
}
