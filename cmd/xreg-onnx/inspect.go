package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "inspect",
		Usage:     "print a model's opset, inputs/outputs, op counts, parameters, normalization points and unsupported nodes",
		ArgsUsage: "model.onnx",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one model file, got %d arguments", c.NArg())
			}
			m, err := onnximport.LoadPermissive(c.Args().First())
			if err != nil {
				return err
			}
			return writeInspect(c.App.Writer, m)
		},
	})
}

func shapeString(v *onnximport.Value) string {
	if !v.HasShape {
		return "?"
	}
	parts := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case v.DimParams[i] != "":
			parts[i] = v.DimParams[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " × ") + "]"
}

func writeInspect(w io.Writer, m *onnximport.Model) error {
	p := m.Proto
	fmt.Fprintf(w, "model      %s\n", m.Path)
	fmt.Fprintf(w, "ir version %d, producer %s %s\n", p.GetIrVersion(), p.GetProducerName(), p.GetProducerVersion())
	var opsets []string
	for _, o := range p.GetOpsetImport() {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", d, o.GetVersion()))
	}
	fmt.Fprintf(w, "opset      %s\n", strings.Join(opsets, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, part := range []struct {
		title  string
		values []*onnximport.Value
	}{{"inputs", m.Graph.Inputs}, {"outputs", m.Graph.Outputs}} {
		fmt.Fprintf(tw, "\n%s\n", part.title)
		for _, v := range part.values {
			fmt.Fprintf(tw, "  %s\t%v\t%s\n", v.Name, v.DType, shapeString(v))
		}
	}
	tw.Flush()

	counts := map[string]int{}
	for _, n := range m.Graph.Nodes {
		counts[n.OpType]++
	}
	ops := make([]string, 0, len(counts))
	for op := range counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "\nops (%d nodes)\n", len(m.Graph.Nodes))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, op := range ops {
		fmt.Fprintf(tw, "  %s\t%d\n", op, counts[op])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nparameters %d float values in %d initializers (running statistics included)\n", m.ParamCount(), len(m.Graph.Initializers))

	points := inject.Points(m.Graph)
	fmt.Fprintf(w, "\nnormalization points %d (where inject adds noise)\n", len(points))
	for _, p := range points {
		fmt.Fprintf(w, "  %s (%s)\n", p.Node, p.Op)
	}
	if len(m.Unsupported) == 0 {
		fmt.Fprintln(w, "\nunsupported nodes: none")
		return nil
	}
	fmt.Fprintf(w, "\nunsupported nodes %d\n", len(m.Unsupported))
	for _, e := range m.Unsupported {
		fmt.Fprintf(w, "  %v\n", e)
	}
	return nil
}
