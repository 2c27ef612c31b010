package main
import (
 _ "gorgonia.org/gorgonia"
 _ "gorgonia.org/tensor"
 _ "github.com/yalue/onnxruntime_go"
 _ "github.com/urfave/cli/v2"
 _ "google.golang.org/protobuf/proto"
 _ "gonum.org/v1/plot"
 _ "github.com/schollz/progressbar/v3"
 _ "github.com/sbinet/npyio"
 _ "github.com/owulveryck/onnx-go"
 _ "go4.org/unsafe/assume-no-moving-gc"
)
func main(){}
