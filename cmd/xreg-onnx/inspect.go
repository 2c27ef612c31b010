package main

import (
	"fmt"
	"io"
	"regexp"
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
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "trainable", Usage: "list the Constant or Identity outputs this `REGEX` selects (by value or node name) among the trainable weights, as train --trainable trains them"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one model file, got %d arguments", c.NArg())
			}
			var sel *regexp.Regexp
			if p := c.String("trainable"); p != "" {
				var err error
				if sel, err = regexp.Compile(p); err != nil {
					return fmt.Errorf("inspect: --trainable %q is not a valid regular expression: %v", p, err)
				}
			}
			m, err := onnximport.LoadPermissive(c.Args().First())
			if err != nil {
				return err
			}
			return writeInspect(c.App.Writer, m, sel)
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

// writeInspect describes m; sel selects more trainable weights, as train --trainable does.
func writeInspect(w io.Writer, m *onnximport.Model, sel *regexp.Regexp) error {
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
	if err := writeWeights(w, m, sel); err != nil {
		return err
	}

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

// writeWeights lists the tensors train would train (params) or update (state), with where each
// lives, and the weight slots it would refuse to train around.
func writeWeights(w io.Writer, m *onnximport.Model, sel *regexp.Regexp) error {
	opt := onnximport.WeightOptions{Select: sel}
	if regs, err := inject.Regs(m); err == nil {
		added := map[string]bool{}
		for _, r := range regs {
			for _, n := range r.Nodes {
				added[n] = true
			}
		}
		opt.Skip = func(n *onnximport.Node) bool { return added[n.Name] }
	}
	ws, bad, err := m.Weights(opt)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	values, state := 0, 0
	for _, x := range ws {
		values += x.Value.Size()
		if x.State {
			state++
		}
	}
	fmt.Fprintf(w, "\ntrainable weights %d (%d params, %d running statistics; %d values)\n", len(ws), len(ws)-state, state, values)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSHAPE\tKIND\tLIVES IN")
	for _, x := range ws {
		kind := "param"
		if x.Selected {
			kind = "param (selected)"
		}
		if x.State {
			kind = "state"
		}
		where := string(x.Store)
		switch {
		case x.Store == onnximport.StoreConstant:
			where = fmt.Sprintf("Constant node %q", x.Root)
		case x.Store == onnximport.StoreIdentity && x.RootIsConstant:
			where = fmt.Sprintf("Identity %q of Constant node %q", x.Via[len(x.Via)-1], x.Root)
		case x.Store == onnximport.StoreIdentity:
			where = fmt.Sprintf("Identity %q of initializer %q", x.Via[len(x.Via)-1], x.Root)
		}
		dims := make([]string, len(x.Value.Dims))
		for i, d := range x.Value.Dims {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(tw, "  %s\t[%s]\t%s\t%s\n", x.Name, strings.Join(dims, "×"), kind, where)
	}
	tw.Flush()
	if len(bad) > 0 {
		fmt.Fprintf(w, "\nweights that cannot be trained %d (train refuses the model)\n", len(bad))
		for _, b := range bad {
			fmt.Fprintf(w, "  %q (%s): %s\n", b.Value, b.Use, b.Reason)
		}
	}
	return nil
}
