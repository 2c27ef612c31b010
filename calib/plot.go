package calib

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure sizes. PNG files are rendered at pngDPI dots per inch, so a
// reliability diagram is 600×700 pixels and a σ plot 900×500.
const (
	pngDPI            = 100
	reliabilityWidth  = 6 * vg.Inch
	reliabilityHeight = 7 * vg.Inch
	trajectoryWidth   = 9 * vg.Inch
	trajectoryHeight  = 5 * vg.Inch
	// maxLegendSeries is the largest number of σ series given a legend
	// entry each; beyond it only their mean is named.
	maxLegendSeries = 12
)

var (
	barColor  = color.RGBA{R: 70, G: 120, B: 190, A: 255}
	barEdge   = color.RGBA{R: 25, G: 60, B: 120, A: 255}
	confColor = color.RGBA{R: 215, G: 50, B: 40, A: 255}
	countFill = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	diagColor = color.RGBA{R: 90, G: 90, B: 90, A: 255}
)

// PlotReliability draws the reliability diagram of m and writes it to w in
// format "png" or "svg". The upper panel shows the accuracy of each
// non-empty equal-width bin as a bar, the mean confidence of the bin as a
// marker and the diagonal of perfect calibration; the lower panel shows how
// many examples fall in each bin.
func PlotReliability(w io.Writer, m *Metrics, title, format string) error {
	if m == nil || len(m.Bins) == 0 {
		return fmt.Errorf("calib: reliability diagram: no bins")
	}
	cw, err := newCanvas(format, reliabilityWidth, reliabilityHeight)
	if err != nil {
		return err
	}
	top, bottom, legend, err := reliabilityPlots(m, title)
	if err != nil {
		return fmt.Errorf("calib: reliability diagram: %w", err)
	}
	dc := draw.New(cw)
	fillWhite(dc)
	pad := vg.Points(6)
	dc = draw.Crop(dc, pad, -pad, pad, -pad)
	h := dc.Max.Y - dc.Min.Y
	split := h * 0.3
	topC := draw.Crop(dc, 0, 0, split, 0)
	botC := draw.Crop(dc, 0, 0, 0, -(h - split))
	alignX(top, &topC, bottom, &botC)
	top.Draw(topC)
	bottom.Draw(botC)
	drawBoxedLegend(legend, top.DataCanvas(topC))
	if _, err := cw.WriteTo(w); err != nil {
		return fmt.Errorf("calib: reliability diagram: write %s: %w", format, err)
	}
	return nil
}

// reliabilityPlots returns the two panels of a reliability diagram and the
// legend of the upper one, which PlotReliability draws on a box of its own.
func reliabilityPlots(m *Metrics, title string) (top, bottom *plot.Plot, legend plot.Legend, err error) {
	width := 1 / float64(len(m.Bins))
	// Bars are outlined so that a non-empty bin with accuracy 0 still
	// shows as a line on the axis.
	acc := &plotter.Histogram{Width: width, FillColor: barColor, LineStyle: draw.LineStyle{Color: barEdge, Width: vg.Points(0.8)}}
	counts := &plotter.Histogram{Width: width, FillColor: countFill, LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}}
	var confs plotter.XYs
	var labels plotter.XYLabels
	maxCount := 0
	for _, b := range m.Bins {
		if b.Count == 0 {
			continue
		}
		mid := (b.Lower + b.Upper) / 2
		acc.Bins = append(acc.Bins, plotter.HistogramBin{Min: b.Lower, Max: b.Upper, Weight: b.Accuracy})
		counts.Bins = append(counts.Bins, plotter.HistogramBin{Min: b.Lower, Max: b.Upper, Weight: float64(b.Count)})
		confs = append(confs, plotter.XY{X: mid, Y: b.Confidence})
		labels.XYs = append(labels.XYs, plotter.XY{X: mid, Y: float64(b.Count)})
		labels.Labels = append(labels.Labels, strconv.Itoa(b.Count))
		maxCount = max(maxCount, b.Count)
	}

	top = plot.New()
	top.Title.Text = fmt.Sprintf("%s — accuracy %.3f, ECE %.3f (%d bins)", title, m.Accuracy, m.ECE, len(m.Bins))
	top.Y.Label.Text = "accuracy / mean confidence in bin"
	top.X.Min, top.X.Max, top.Y.Min, top.Y.Max = 0, 1, 0, 1
	top.X.Tick.Marker = unitTicks
	top.Y.Tick.Marker = unitTicks
	top.Add(plotter.NewGrid())
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, nil, legend, err
	}
	diag.Color = diagColor
	diag.Width = vg.Points(1)
	diag.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	sc, err := plotter.NewScatter(confs)
	if err != nil {
		return nil, nil, legend, err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: confColor, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
	top.Add(acc, diag, sc)
	legend = plot.NewLegend()
	legend.Add("accuracy in bin", acc)
	legend.Add("mean confidence in bin", sc)
	legend.Add("perfect calibration", diag)
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(10)

	bottom = plot.New()
	bottom.X.Label.Text = "top-label confidence"
	bottom.Y.Label.Text = "examples"
	bottom.X.Min, bottom.X.Max = 0, 1
	bottom.X.Tick.Marker = unitTicks
	bottom.Y.Min, bottom.Y.Max = 0, math.Max(1, float64(maxCount)*1.3)
	bottom.Add(counts)
	if len(labels.Labels) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return nil, nil, legend, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font.Size = vg.Points(7)
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset.Y = vg.Points(2)
		bottom.Add(l)
	}
	return top, bottom, legend, nil
}

// PlotTrajectory draws one line per σ name against the training step and
// writes the figure to w in format "png" or "svg". With more than a dozen
// names the legend names only their mean, drawn in black. The σ axis is
// logarithmic when the values span more than a factor of 20.
func PlotTrajectory(w io.Writer, t Trajectory, title, format string) error {
	names := t.Names()
	if len(names) == 0 {
		return fmt.Errorf("calib: σ plot: empty trajectory")
	}
	cw, err := newCanvas(format, trajectoryWidth, trajectoryHeight)
	if err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "σ"
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(10)
	short := ShortNames(names)
	for i, name := range names {
		var xys plotter.XYs
		for _, pt := range t {
			if v, ok := pt.Sigma[name]; ok {
				xys = append(xys, plotter.XY{X: float64(pt.Step), Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("calib: σ plot: series %q: %w", name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		l.Width = vg.Points(1.2)
		p.Add(l)
		if len(names) <= maxLegendSeries {
			legend.Add(short[name], l)
		}
	}
	if len(names) > maxLegendSeries {
		var xys plotter.XYs
		for _, pt := range t {
			if len(pt.Sigma) == 0 {
				continue
			}
			s := 0.0
			for _, v := range pt.Sigma {
				s += v
			}
			xys = append(xys, plotter.XY{X: float64(pt.Step), Y: s / float64(len(pt.Sigma))})
		}
		mean, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("calib: σ plot: mean: %w", err)
		}
		mean.Color = color.Black
		mean.Width = vg.Points(2.5)
		p.Add(mean)
		legend.Add(fmt.Sprintf("mean of %d σ", len(names)), mean)
	}
	if lo > 0 && hi/lo > 20 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}

	dc := draw.New(cw)
	fillWhite(dc)
	pad := vg.Points(6)
	dc = draw.Crop(dc, pad, -pad, pad, -pad)
	// The legend gets its own column right of the plot so that it never
	// hides a line.
	lr := legend.Rectangle(dc)
	lw := math.Min(float64(lr.Max.X-lr.Min.X), float64(dc.Max.X-dc.Min.X)/2)
	plotC := draw.Crop(dc, 0, -vg.Length(lw)-pad, 0, 0)
	legC := draw.Crop(dc, dc.Max.X-dc.Min.X-vg.Length(lw), 0, 0, 0)
	legC.Max.Y = p.DataCanvas(plotC).Max.Y
	legend.Top = true
	legend.Left = true
	p.Draw(plotC)
	legend.Draw(legC)
	if _, err := cw.WriteTo(w); err != nil {
		return fmt.Errorf("calib: σ plot: write %s: %w", format, err)
	}
	return nil
}

// drawBoxedLegend draws l in the top-left corner of the data area dc on a
// white, slightly translucent box, so that it stays legible over bars.
func drawBoxedLegend(l plot.Legend, dc draw.Canvas) {
	pad := vg.Points(4)
	size := l.Rectangle(dc).Size()
	inner := draw.Crop(dc, 2*pad, 0, 0, -2*pad)
	box := vg.Rectangle{
		Min: vg.Point{X: inner.Min.X - pad, Y: inner.Max.Y - size.Y - pad},
		Max: vg.Point{X: inner.Min.X + size.X + pad, Y: inner.Max.Y + pad},
	}
	dc.SetColor(color.NRGBA{R: 255, G: 255, B: 255, A: 230})
	dc.Fill(box.Path())
	dc.SetLineStyle(draw.LineStyle{Color: color.RGBA{R: 180, G: 180, B: 180, A: 255}, Width: vg.Points(0.5)})
	dc.Stroke(box.Path())
	l.Draw(inner)
}

// newCanvas returns a canvas of size w×h for format "png" or "svg".
func newCanvas(format string, w, h vg.Length) (vg.CanvasWriterTo, error) {
	switch format {
	case "png":
		return vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}, nil
	case "svg":
		return vgsvg.New(w, h), nil
	}
	return nil, fmt.Errorf("calib: image format %q, want png or svg", format)
}

// unitTicks marks [0, 1] with labels every 0.2 and minor ticks every 0.1.
var unitTicks = plot.ConstantTicks([]plot.Tick{
	{Value: 0, Label: "0"}, {Value: 0.1}, {Value: 0.2, Label: "0.2"}, {Value: 0.3},
	{Value: 0.4, Label: "0.4"}, {Value: 0.5}, {Value: 0.6, Label: "0.6"}, {Value: 0.7},
	{Value: 0.8, Label: "0.8"}, {Value: 0.9}, {Value: 1, Label: "1"},
})

func fillWhite(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
}

// alignX narrows the canvases of two stacked plots so that their data areas
// share the same horizontal extent.
func alignX(a *plot.Plot, ac *draw.Canvas, b *plot.Plot, bc *draw.Canvas) {
	da, db := a.DataCanvas(*ac), b.DataCanvas(*bc)
	la, lb := da.Min.X-ac.Min.X, db.Min.X-bc.Min.X
	ra, rb := ac.Max.X-da.Max.X, bc.Max.X-db.Max.X
	left, right := max(la, lb), max(ra, rb)
	*ac = draw.Crop(*ac, left-la, -(right - ra), 0, 0)
	*bc = draw.Crop(*bc, left-lb, -(right - rb), 0, 0)
}
