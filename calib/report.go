package calib

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
)

// Report is a calibration report: one or more models measured on the same
// data, with free-form provenance and an optional σ trajectory.
type Report struct {
	// Title heads report.md and report.html; empty means
	// "Calibration report".
	Title string `json:"title,omitempty"`
	// Models are shown side by side in this order. Names must be
	// non-empty and stay distinct after FileName.
	Models []Model `json:"models"`
	// Provenance is listed sorted by key (model file, data set, seed, …).
	Provenance map[string]string `json:"provenance,omitempty"`
	// Trajectory, when not empty, is plotted and summarised.
	Trajectory Trajectory `json:"trajectory,omitempty"`
	// Recommendation, when not nil, says which model to ship and why; it heads the report.
	Recommendation *Recommendation `json:"recommendation,omitempty"`
	// SelectionData names the data set of the models' Selection metrics (for example
	// "regularization set, 1000 examples").
	SelectionData string `json:"selection_data,omitempty"`
	// Context says what was run (model, data, settings, time, machine), in this order, one table
	// per section.
	Context []Section `json:"context,omitempty"`
}

// Recommendation names the model to ship, the rule that chose it and the numbers behind it.
type Recommendation struct {
	// Model is the Name of one of the report's models.
	Model string `json:"model"`
	// Rule states how the model was chosen, in words; Reason applies it to this report's numbers.
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Section is one titled table of key–value context.
type Section struct {
	Title  string  `json:"title"`
	Fields []Field `json:"fields"`
}

// Field is one key and its value.
type Field struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Model is one named entry of a Report, such as "original", "fine-tuned",
// "temperature" or "mc-4".
type Model struct {
	Name    string   `json:"name"`
	Metrics *Metrics `json:"metrics"`
	// Description says what the model is; File where it was written. Both optional.
	Description string `json:"description,omitempty"`
	File        string `json:"file,omitempty"`
	// Selection, when not nil, are the model's metrics on the data the recommendation is made on
	// (Report.SelectionData), kept apart from the test data.
	Selection *Metrics `json:"selection_metrics,omitempty"`
}

// FileName returns the name of a model as used in file names: every rune
// other than an ASCII letter, digit, '-', '_' or '.' becomes '_'.
func FileName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// WriteReport writes the report r into dir, creating dir if needed:
//
//	report.json                      every metric and bin, the provenance and trajectory
//	report.md                        tables, one row per model, and per-class accuracy
//	report.html                      the same, self-contained, figures embedded
//	reliability-<name>.png and .svg  one reliability diagram per model
//	sigma.png and sigma.svg          the σ trajectory, when r has one
//
// where <name> is FileName of the model name. Each file is written to a
// temporary file in dir and renamed into place, so a reader never sees a
// partial file.
func WriteReport(dir string, r *Report) error {
	if err := checkReport(r); err != nil {
		return err
	}
	figs := make([]figure, 0, len(r.Models)+1)
	for _, m := range r.Models {
		f, err := renderFigure(reliabilityBase(m.Name), m.Name, func(w *bytes.Buffer, format string) error {
			return PlotReliability(w, m.Metrics, m.Name, format)
		})
		if err != nil {
			return err
		}
		figs = append(figs, f)
	}
	if len(r.Trajectory.Names()) > 0 {
		f, err := renderFigure("sigma", "σ trajectory", func(w *bytes.Buffer, format string) error {
			return PlotTrajectory(w, r.Trajectory, "σ trajectory", format)
		})
		if err != nil {
			return err
		}
		figs = append(figs, f)
	}
	// Everything is rendered before anything is written, so a failure leaves no partial report.
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("calib: report: encode json: %w", err)
	}
	h, err := htmlReport(r, figs)
	if err != nil {
		return err
	}
	var files []reportFile
	for _, f := range figs {
		files = append(files, reportFile{f.base + ".png", f.png}, reportFile{f.base + ".svg", f.svg})
	}
	files = append(files, reportFile{"report.json", append(js, '\n')}, reportFile{"report.md", markdown(r, figs)},
		reportFile{"report.html", h})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("calib: report: %w", err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

type reportFile struct {
	name string
	data []byte
}

// ReportFiles returns the names of the files WriteReport writes for models of these names, with
// or without a σ trajectory, so that a caller can check them before measuring anything.
func ReportFiles(models []string, trajectory bool) []string {
	var out []string
	for _, m := range models {
		out = append(out, reliabilityBase(m)+".png", reliabilityBase(m)+".svg")
	}
	if trajectory {
		out = append(out, "sigma.png", "sigma.svg")
	}
	return append(out, "report.json", "report.md", "report.html")
}

func reliabilityBase(model string) string { return "reliability-" + FileName(model) }

func checkReport(r *Report) error {
	if r == nil || len(r.Models) == 0 {
		return fmt.Errorf("calib: report has no models")
	}
	seen := map[string]string{}
	for i, m := range r.Models {
		if m.Name == "" {
			return fmt.Errorf("calib: report model %d has no name", i)
		}
		if m.Metrics == nil || len(m.Metrics.Bins) == 0 {
			return fmt.Errorf("calib: report model %q has no metrics", m.Name)
		}
		if m.Selection != nil && len(m.Selection.Bins) == 0 {
			return fmt.Errorf("calib: report model %q has empty selection metrics", m.Name)
		}
		fn := FileName(m.Name)
		if prev, ok := seen[fn]; ok {
			return fmt.Errorf("calib: report models %q and %q share the file name %q", prev, m.Name, fn)
		}
		seen[fn] = m.Name
	}
	if rec := r.Recommendation; rec != nil {
		found := false
		for _, m := range r.Models {
			found = found || m.Name == rec.Model
		}
		if !found {
			return fmt.Errorf("calib: report recommends %q, which is none of its models", rec.Model)
		}
	}
	return nil
}

// figure is one rendered figure: file base name, caption and both
// encodings.
type figure struct {
	base, caption string
	png, svg      []byte
}

func renderFigure(base, caption string, plot func(*bytes.Buffer, string) error) (figure, error) {
	f := figure{base: base, caption: caption}
	var p, s bytes.Buffer
	if err := plot(&p, "png"); err != nil {
		return f, err
	}
	if err := plot(&s, "svg"); err != nil {
		return f, err
	}
	f.png, f.svg = p.Bytes(), s.Bytes()
	return f, nil
}

// writeFile writes data to path atomically (temporary file in the same directory, then rename).
func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("calib: report: %w", err)
	}
	return nil
}

// table is a header and rows of cells, rendered to Markdown or HTML.
type table struct {
	Head  []string
	Right []bool // right-align the column
	Rows  [][]string
}

// view is everything report.md and report.html show.
type view struct {
	Title          string
	Note           string
	Recommendation *Recommendation
	Summary        table
	SelectionData  string
	Selection      table
	Models         table
	PerClass       table
	Sigma          table
	Context        []contextTable
	Provenance     table
}

// contextTable is one Section of the context, as a table.
type contextTable struct {
	Title string
	Table table
}

func num(v float64) string { return fmt.Sprintf("%.4f", v) }

func buildView(r *Report) view {
	v := view{Title: r.Title, Recommendation: r.Recommendation, SelectionData: r.SelectionData}
	if v.Title == "" {
		v.Title = "Calibration report"
	}
	first := r.Models[0].Metrics
	bins, sameBins := len(first.Bins), true
	for _, m := range r.Models {
		sameBins = sameBins && len(m.Metrics.Bins) == bins
	}
	binText := "the bin count of each model is in report.json"
	if sameBins {
		binText = fmt.Sprintf("%d bins", bins)
	}
	v.Note = fmt.Sprintf("ECE and MCE use equal-width bins, adaptive ECE equal-mass bins, on the top-label confidence (%s). "+
		"NLL is the mean natural-log loss with probabilities floored at %g. "+
		"Brier is the multi-class score mean Σ_k (p_k − 1[k = y])², in [0, 2]. "+
		"Per-class accuracy is the recall of each class.", binText, ProbFloor)

	v.Summary = table{
		Head:  []string{"model", "n", "accuracy", "NLL", "Brier", "ECE", "adaptive ECE", "MCE", "mean confidence"},
		Right: []bool{false, true, true, true, true, true, true, true, true},
	}
	maxK := 0
	for _, m := range r.Models {
		x := m.Metrics
		v.Summary.Rows = append(v.Summary.Rows, []string{m.Name, fmt.Sprint(x.N), num(x.Accuracy), num(x.NLL),
			num(x.Brier), num(x.ECE), num(x.AdaptiveECE), num(x.MCE), num(x.MeanConfidence)})
		maxK = max(maxK, len(x.PerClass))
	}

	for _, m := range r.Models {
		if m.Selection == nil {
			continue
		}
		if v.Selection.Head == nil {
			v.Selection = table{Head: []string{"model", "n", "accuracy", "NLL", "Brier", "ECE"}, Right: []bool{false, true, true, true, true, true}}
		}
		x := m.Selection
		v.Selection.Rows = append(v.Selection.Rows, []string{m.Name, fmt.Sprint(x.N), num(x.Accuracy), num(x.NLL), num(x.Brier), num(x.ECE)})
	}
	for _, m := range r.Models {
		if m.Description == "" && m.File == "" {
			continue
		}
		if v.Models.Head == nil {
			v.Models = table{Head: []string{"model", "what it is", "file"}, Right: []bool{false, false, false}}
		}
		v.Models.Rows = append(v.Models.Rows, []string{m.Name, m.Description, m.File})
	}
	for _, sec := range r.Context {
		t := table{Head: []string{"", ""}, Right: []bool{false, false}}
		for _, f := range sec.Fields {
			t.Rows = append(t.Rows, []string{f.Key, f.Value})
		}
		v.Context = append(v.Context, contextTable{Title: sec.Title, Table: t})
	}

	v.PerClass.Head = []string{"class", "n"}
	v.PerClass.Right = []bool{true, true}
	for _, m := range r.Models {
		v.PerClass.Head = append(v.PerClass.Head, m.Name)
		v.PerClass.Right = append(v.PerClass.Right, true)
	}
	for k := range maxK {
		n := 0
		if k < len(first.PerClass) {
			n = first.PerClass[k].Count
		}
		row := []string{fmt.Sprint(k), fmt.Sprint(n)}
		for _, m := range r.Models {
			cell := "–"
			if k < len(m.Metrics.PerClass) && m.Metrics.PerClass[k].Count > 0 {
				c := m.Metrics.PerClass[k]
				cell = num(c.Accuracy)
				if c.Count != n {
					cell += fmt.Sprintf(" (n=%d)", c.Count)
				}
			}
			row = append(row, cell)
		}
		v.PerClass.Rows = append(v.PerClass.Rows, row)
	}

	if names := r.Trajectory.Names(); len(names) > 0 {
		v.Sigma = table{Head: []string{"σ", "first", "last", "points", "parameter"}, Right: []bool{false, true, true, true, false}}
		short := ShortNames(names)
		for _, name := range names {
			var vals []float64
			var steps []int
			for _, p := range r.Trajectory {
				if s, ok := p.Sigma[name]; ok {
					vals = append(vals, s)
					steps = append(steps, p.Step)
				}
			}
			v.Sigma.Rows = append(v.Sigma.Rows, []string{short[name],
				fmt.Sprintf("%s (step %d)", num(vals[0]), steps[0]),
				fmt.Sprintf("%s (step %d)", num(vals[len(vals)-1]), steps[len(steps)-1]),
				fmt.Sprint(len(vals)), name})
		}
	}

	if len(r.Provenance) > 0 {
		v.Provenance = table{Head: []string{"key", "value"}, Right: []bool{false, false}}
		keys := make([]string, 0, len(r.Provenance))
		for k := range r.Provenance {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v.Provenance.Rows = append(v.Provenance.Rows, []string{k, r.Provenance[k]})
		}
	}
	return v
}

func markdown(r *Report, figs []figure) []byte {
	v := buildView(r)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", mdCell(v.Title))
	if rec := v.Recommendation; rec != nil {
		fmt.Fprintf(&b, "**Ship %s.** %s\n\nRule: %s\n\n", rec.Model, rec.Reason, rec.Rule)
	}
	if len(v.Selection.Rows) > 0 {
		fmt.Fprintf(&b, "## Test data\n\n")
	}
	writeMDTable(&b, v.Summary)
	fmt.Fprintf(&b, "\n%s\n", v.Note)
	if len(v.Selection.Rows) > 0 {
		fmt.Fprintf(&b, "\n## %s (the recommendation is made on it)\n\n", mdCell(selectionTitle(v.SelectionData)))
		writeMDTable(&b, v.Selection)
	}
	if len(v.Models.Rows) > 0 {
		fmt.Fprintf(&b, "\n## Models\n\n")
		writeMDTable(&b, v.Models)
	}
	fmt.Fprintf(&b, "\n## Per-class accuracy\n\n")
	writeMDTable(&b, v.PerClass)
	fmt.Fprintf(&b, "\n## Reliability diagrams\n\n")
	for _, f := range figs {
		if f.base == "sigma" {
			continue
		}
		fmt.Fprintf(&b, "![%s](%s.png)\n", mdCell(f.caption), f.base)
	}
	if len(v.Sigma.Rows) > 0 {
		fmt.Fprintf(&b, "\n## σ trajectory\n\n![σ trajectory](sigma.png)\n\n")
		writeMDTable(&b, v.Sigma)
	}
	for _, c := range v.Context {
		fmt.Fprintf(&b, "\n## %s\n\n", mdCell(c.Title))
		for _, row := range c.Table.Rows {
			fmt.Fprintf(&b, "- %s: %s\n", mdCell(row[0]), mdCell(row[1]))
		}
	}
	if len(v.Provenance.Rows) > 0 {
		fmt.Fprintf(&b, "\n## Provenance\n\n")
		writeMDTable(&b, v.Provenance)
	}
	return b.Bytes()
}

// selectionTitle heads the table of selection metrics.
func selectionTitle(data string) string {
	if data == "" {
		return "Selection data"
	}
	return strings.ToUpper(data[:1]) + data[1:]
}

// mdCell makes s safe inside a Markdown table cell or heading.
func mdCell(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return strings.ReplaceAll(s, "|", `\|`)
}

func writeMDTable(b *bytes.Buffer, t table) {
	cells := make([]string, len(t.Head))
	for i, h := range t.Head {
		cells[i] = mdCell(h)
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	for i := range t.Head {
		cells[i] = "---"
		if t.Right[i] {
			cells[i] = "--:"
		}
	}
	fmt.Fprintf(b, "|%s|\n", strings.Join(cells, "|"))
	for _, row := range t.Rows {
		for i, c := range row {
			cells[i] = mdCell(c)
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}
}

type htmlFigure struct {
	Caption string
	Src     template.URL
}

func htmlReport(r *Report, figs []figure) ([]byte, error) {
	data := struct {
		V              view
		SelectionTitle string
		Reliability    []htmlFigure
		SigmaFig       *htmlFigure
	}{V: buildView(r)}
	data.SelectionTitle = selectionTitle(data.V.SelectionData)
	for _, f := range figs {
		hf := htmlFigure{Caption: f.caption,
			Src: template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(f.svg))}
		if f.base == "sigma" {
			data.SigmaFig = &hf
		} else {
			data.Reliability = append(data.Reliability, hf)
		}
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("calib: report: html: %w", err)
	}
	return b.Bytes(), nil
}

// htmlTemplate is the self-contained report page: no external resource (fonts, scripts, styles,
// images) is referenced, so it works offline; the print rules keep tables and figures whole on
// a page and drop the screen width limits.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"dict": tableArgs}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.V.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; vertical-align: top; }
th { background: #f2f2f2; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
tr.ship td { background: #eaf5e4; font-weight: 600; }
p.note { color: #555; max-width: 60em; }
.rec { border: 2px solid #4a8a2a; background: #f3faef; padding: 0.6em 1em; margin: 1em 0; max-width: 60em; }
.rec .rule { color: #444; font-size: 0.92em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figure img { width: 22em; height: auto; border: 1px solid #eee; }
figure.wide img { width: 45em; max-width: 100%; }
figcaption { text-align: center; color: #555; }
.context { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
.context table td:first-child { color: #555; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; color: #000; }
  h1 { font-size: 16pt; } h2 { font-size: 13pt; break-after: avoid; page-break-after: avoid; }
  table, figure, .rec { break-inside: avoid; page-break-inside: avoid; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  tr.ship td, .rec { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  figure img { width: 15em; }
  figure.wide img { width: 100%; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<h1>{{.V.Title}}</h1>
{{- with .V.Recommendation}}
<div class="rec"><p><strong>Ship {{.Model}}.</strong> {{.Reason}}</p><p class="rule">Rule: {{.Rule}}</p></div>
{{- end}}
{{- if .V.Selection.Rows}}
<h2>Test data</h2>
{{- end}}
{{template "table" (dict .V.Summary .V.Recommendation)}}
<p class="note">{{.V.Note}}</p>
{{- if .V.Selection.Rows}}
<h2>{{.SelectionTitle}} (the recommendation is made on it)</h2>
{{template "table" (dict .V.Selection .V.Recommendation)}}
{{- end}}
{{- if .V.Models.Rows}}
<h2>Models</h2>
{{template "table" (dict .V.Models .V.Recommendation)}}
{{- end}}
<h2>Reliability diagrams</h2>
<div class="figs">
{{range .Reliability}}<figure><img src="{{.Src}}" alt="reliability diagram of {{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>
{{- if .SigmaFig}}
<h2>σ trajectory</h2>
<figure class="wide"><img src="{{.SigmaFig.Src}}" alt="σ trajectory"></figure>
{{template "table" (dict .V.Sigma nil)}}
{{- end}}
<h2>Per-class accuracy</h2>
{{template "table" (dict .V.PerClass nil)}}
{{- if .V.Context}}
<h2>Context</h2>
<div class="context">
{{- range .V.Context}}
<div><h3>{{.Title}}</h3>
<table>{{range .Table.Rows}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table></div>
{{- end}}
</div>
{{- end}}
{{- if .V.Provenance.Rows}}
<h2>Provenance</h2>
{{template "table" (dict .V.Provenance nil)}}
{{- end}}
</body>
</html>
{{define "table"}}{{$t := .T}}{{$ship := ""}}{{with .Rec}}{{$ship = .Model}}{{end}}<table>
<tr>{{range $t.Head}}<th>{{.}}</th>{{end}}</tr>
{{range $t.Rows}}<tr{{if and $ship (eq (index . 0) $ship)}} class="ship"{{end}}>{{range $i, $c := .}}<td{{if index $t.Right $i}} class="r"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>{{end}}
`))

// tableArgs passes a table and the recommendation (which row to highlight) to the "table" template.
func tableArgs(t table, rec *Recommendation) map[string]any {
	return map[string]any{"T": t, "Rec": rec}
}
