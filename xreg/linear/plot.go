package linear

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	gridColor = color.RGBA{R: 70, G: 120, B: 190, A: 255}
	xregColor = color.RGBA{R: 215, G: 50, B: 40, A: 255}
	dataColor = color.RGBA{R: 60, G: 60, B: 60, A: 255}
	regColor  = color.RGBA{R: 150, G: 150, B: 150, A: 255}
)

// SplineCurve is one fitted spline to draw.
type SplineCurve struct {
	Name string
	Coef []float64
}

// PlotSpline draws the training and regularization points, truth (when not nil) and the fitted
// splines over the basis range as a PNG.
func PlotSpline(w io.Writer, b Basis, train, reg Data, truth func(float64) float64, curves []SplineCurve, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "x"
	p.Y.Label.Text = "y"
	scatter := func(d Data, c color.Color, shape draw.GlyphDrawer, name string) error {
		pts := make(plotter.XYs, d.Len())
		for i, x := range d.X {
			pts[i] = plotter.XY{X: x[0], Y: d.Y[i]}
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.Color, s.Shape, s.Radius = c, shape, vg.Points(3)
		p.Add(s)
		p.Legend.Add(name, s)
		return nil
	}
	if err := scatter(train, dataColor, draw.CircleGlyph{}, "training set"); err != nil {
		return fmt.Errorf("linear: plot: %w", err)
	}
	if reg.Len() > 0 {
		if err := scatter(reg, regColor, draw.TriangleGlyph{}, "regularization set"); err != nil {
			return fmt.Errorf("linear: plot: %w", err)
		}
	}
	line := func(f func(float64) float64, c color.Color, dashed bool, name string) error {
		const n = 400
		pts := make(plotter.XYs, n+1)
		for i := range pts {
			x := b.Lo + (b.Hi-b.Lo)*float64(i)/n
			pts[i] = plotter.XY{X: x, Y: f(x)}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	if truth != nil {
		if err := line(truth, dataColor, true, "truth"); err != nil {
			return fmt.Errorf("linear: plot: %w", err)
		}
	}
	colors := []color.Color{gridColor, xregColor, color.RGBA{G: 140, B: 60, A: 255}}
	for i, c := range curves {
		coef := c.Coef
		if err := line(func(x float64) float64 { return b.Eval(coef, x) }, colors[i%len(colors)], false, c.Name); err != nil {
			return fmt.Errorf("linear: plot: %w", err)
		}
	}
	p.Legend.Top = true
	return writePNG(w, p, 8*vg.Inch, 5*vg.Inch)
}

// PlotPath draws the grid baseline's coefficient path against the norm of each grid solution
// (‖w‖₂ or ‖w‖₁ by l1), the chosen grid point as a vertical line, and the cross-regularized
// coefficients as markers at their learned norm.
func PlotPath(w io.Writer, g GridFit, xreg []float64, l1 bool, names []string, title string) error {
	p := plot.New()
	p.Title.Text = title
	nf := norm2
	p.X.Label.Text = "‖w‖₂ (standardized units)"
	if l1 {
		nf = norm1
		p.X.Label.Text = "‖w‖₁ (standardized units)"
	}
	p.Y.Label.Text = "coefficient"
	dim := len(xreg)
	for j := range dim {
		pts := make(plotter.XYs, 0, len(g.Path))
		for _, wp := range g.Path {
			pts = append(pts, plotter.XY{X: nf(wp), Y: wp[j]})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("linear: plot: %w", err)
		}
		l.Color = color.RGBA{R: uint8(40 + 180*j/max(dim, 1)), G: 110, B: uint8(200 - 150*j/max(dim, 1)), A: 200}
		p.Add(l)
		if j < 12 && j < len(names) {
			p.Legend.Add(names[j], l)
		}
	}
	best := nf(g.W())
	vl, err := plotter.NewLine(plotter.XYs{{X: best, Y: minOf(g.Path)}, {X: best, Y: maxOf(g.Path)}})
	if err != nil {
		return fmt.Errorf("linear: plot: %w", err)
	}
	vl.Color, vl.Dashes = gridColor, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(vl)
	p.Legend.Add("grid choice", vl)
	pts := make(plotter.XYs, dim)
	for j, v := range xreg {
		pts[j] = plotter.XY{X: nf(xreg), Y: v}
	}
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("linear: plot: %w", err)
	}
	s.Color, s.Shape, s.Radius = xregColor, draw.CrossGlyph{}, vg.Points(4)
	p.Add(s)
	p.Legend.Add("cross-regularization", s)
	p.Legend.Top = true
	p.Legend.Left = true
	return writePNG(w, p, 8*vg.Inch, 5*vg.Inch)
}

func minOf(path [][]float64) float64 {
	m := math.Inf(1)
	for _, w := range path {
		for _, v := range w {
			m = math.Min(m, v)
		}
	}
	return m
}

func maxOf(path [][]float64) float64 {
	m := math.Inf(-1)
	for _, w := range path {
		for _, v := range w {
			m = math.Max(m, v)
		}
	}
	return m
}

func writePNG(w io.Writer, p *plot.Plot, width, height vg.Length) error {
	wt, err := p.WriterTo(width, height, "png")
	if err != nil {
		return fmt.Errorf("linear: plot: %w", err)
	}
	if _, err := wt.WriteTo(w); err != nil {
		return fmt.Errorf("linear: plot: %w", err)
	}
	return nil
}
