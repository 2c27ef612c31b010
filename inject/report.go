package inject

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the injection points as an aligned text table: point (node or input), op,
// shape of the regularized value ("?" for a dynamic dimension, "unknown" when not inferred), the
// parameter's name, and what it does.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT\tOP\tSHAPE\tPARAMETER\tREG")
	for _, g := range r.Regs {
		what := g.Kind + " " + g.Mode
		if g.Granularity != "" {
			what += " " + g.Granularity
		}
		if g.Placement == PreAffine {
			what += " " + PreAffine
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Point, g.Op, formatShape(g.Shape), g.Name, what)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("inject: writing table: %w", err)
	}
	if r.RaisedFrom != 0 {
		if _, err := fmt.Fprintf(w, "opset raised from %d to %d for GridSample\n", r.RaisedFrom, r.Opset); err != nil {
			return fmt.Errorf("inject: writing table: %w", err)
		}
	}
	return nil
}

// formatShape writes a shape as "?×32×28×28".
func formatShape(s []int) string {
	if s == nil {
		return "unknown"
	}
	if len(s) == 0 {
		return "scalar"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = "?"
		if d >= 0 {
			parts[i] = strconv.Itoa(d)
		}
	}
	return strings.Join(parts, "×")
}
