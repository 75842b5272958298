package elasticbench

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/wrxlabs/wrx/internal/units"
)

// Plot size: small enough to commit, large enough to read. The legend
// gets a column of its own, right of the plot, so that it hides no data.
const plotW, plotH, legendW = 7 * vg.Inch, 4.5 * vg.Inch, 2.1 * vg.Inch

// savePlot draws p, with its legend in a column to its right, into a PNG.
func savePlot(p *plot.Plot, path string) error {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	img := vgimg.New(plotW+legendW, plotH)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
	leg.Top, leg.Left = true, true
	leg.Draw(draw.Crop(dc, plotW+vg.Points(4), 0, 0, -vg.Points(24)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Plots renders accuracy_vs_target.png, latency_vs_target.png and
// memory.png into dir.
func (r *Report) Plots(dir string) error {
	if len(r.Rows) == 0 {
		return fmt.Errorf("bench: no rows to plot")
	}
	for _, f := range []struct {
		name string
		make func() (*plot.Plot, error)
	}{{AccuracyPNG, r.accuracyPlot}, {LatencyPNG, r.latencyPlot}, {MemoryPNG, r.memoryPlot}} {
		p, err := f.make()
		if err != nil {
			return fmt.Errorf("bench: %s: %w", f.name, err)
		}
		save := savePlot
		if f.name == MemoryPNG {
			save = func(p *plot.Plot, path string) error { return p.Save(plotW+legendW, plotH, path) }
		}
		if err := save(p, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("bench: %s: %w", f.name, err)
		}
	}
	return nil
}

// series groups rows by Label, in the order rows have them sorted: WRX
// first, then the baselines.
func (r *Report) series() (names []string, rows map[string][]*Row) {
	rows = map[string][]*Row{}
	for i := range r.Rows {
		row := &r.Rows[i]
		l := row.Label()
		if _, ok := rows[l]; !ok {
			names = append(names, l)
		}
		rows[l] = append(rows[l], row)
	}
	slices.SortStableFunc(names, func(a, b string) int {
		ra, rb := rows[a][0], rows[b][0]
		return cmp.Or(cmp.Compare(modeOrder(ra.Mode), modeOrder(rb.Mode)), cmp.Compare(ra.Planner, rb.Planner),
			cmp.Compare(ra.BudgetBytes, rb.BudgetBytes), cmp.Compare(rb.Fidelity, ra.Fidelity))
	})
	for _, l := range names {
		slices.SortFunc(rows[l], func(a, b *Row) int { return cmp.Compare(a.TargetMS, b.TargetMS) })
	}
	return names, rows
}

func (r *Report) title(what string) string {
	thr := "unthrottled"
	if r.Meta.Throttle != "none" && r.Meta.Throttle != "" {
		thr = "throttle " + r.Meta.Throttle
	}
	data := r.Meta.Task
	if r.Meta.Synthetic {
		data = "random weights"
	}
	return fmt.Sprintf("%s — %s, %s, n=%d", what, data, thr, r.Meta.N)
}

// targetTicks puts a labelled tick at every target.
func (r *Report) targetTicks() plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for _, t := range r.Meta.TargetsMS {
		ticks = append(ticks, plot.Tick{Value: t, Label: strconv.FormatFloat(t, 'f', -1, 64)})
	}
	return ticks
}

// padX widens the target axis a little on both sides (log scale), so that
// no point sits on the plot's edge.
func (r *Report) padX(p *plot.Plot) {
	if len(r.Meta.TargetsMS) == 0 {
		return
	}
	p.X.Min, p.X.Max = slices.Min(r.Meta.TargetsMS)/1.25, slices.Max(r.Meta.TargetsMS)*1.25
}

// msTicks labels 1, 2 and 5 times the powers of ten, for milliseconds on a
// log scale.
type msTicks struct{}

func (msTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ticks
}

// palettes give each mode its own hue, darker for the first budget or the
// highest fidelity, so that 12 series stay apart.
var palettes = map[string][]color.RGBA{
	"wrx/optimal":        {{8, 81, 156, 255}, {49, 130, 189, 255}, {107, 174, 214, 255}, {158, 202, 225, 255}},
	"wrx/greedy":         {{0, 109, 44, 255}, {49, 163, 84, 255}, {116, 196, 118, 255}, {161, 217, 155, 255}},
	"hold-in-memory":     {{165, 15, 21, 255}, {251, 106, 74, 255}, {252, 146, 114, 255}},
	"load-then-exec":     {{166, 54, 3, 255}, {253, 141, 60, 255}, {253, 174, 107, 255}},
	"layerwise-pipeline": {{84, 39, 143, 255}, {158, 154, 200, 255}, {188, 189, 220, 255}},
}

var glyphs = map[string]draw.GlyphDrawer{
	"wrx/optimal":        draw.CircleGlyph{},
	"wrx/greedy":         draw.PyramidGlyph{},
	"hold-in-memory":     draw.BoxGlyph{},
	"load-then-exec":     draw.RingGlyph{},
	"layerwise-pipeline": draw.TriangleGlyph{},
}

// styles returns each series' color, glyph and dashes (baselines dashed).
func styles(names []string, rows map[string][]*Row) map[string]style {
	out := map[string]style{}
	seen := map[string]int{}
	for _, n := range names {
		row := rows[n][0]
		group := string(row.Mode)
		if row.Mode == ModeWRX {
			group += "/" + string(row.Planner)
		}
		pal, ok := palettes[group]
		if !ok {
			pal = []color.RGBA{{90, 90, 90, 255}}
		}
		st := style{color: pal[seen[group]%len(pal)], glyph: glyphs[group]}
		if st.glyph == nil {
			st.glyph = draw.CrossGlyph{}
		}
		seen[group]++
		if row.Mode != ModeWRX {
			st.dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		out[n] = st
	}
	return out
}

type style struct {
	color  color.Color
	glyph  draw.GlyphDrawer
	dashes []vg.Length
}

// accuracyPlot draws accuracy against target per series. A point where the
// series misses the target is drawn as a cross on the bottom edge instead
// of at its accuracy: it counts as failing there.
func (r *Report) accuracyPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.title("Accuracy vs latency target")
	p.X.Label.Text = "latency target (ms, log scale)"
	p.Y.Label.Text = "accuracy (marks below the line: target missed)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, r.targetTicks()
	r.padX(p)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	names, rows := r.series()
	sty := styles(names, rows)
	floor := 1.0
	for _, row := range r.Rows {
		floor = min(floor, row.Accuracy)
	}
	floor = math.Max(0, math.Floor((floor-0.02)*50)/50)
	// Misses go in a band below every measured accuracy, one row of
	// crosses per series so that they do not hide each other.
	band := (1 - floor) * 0.15
	p.Y.Min, p.Y.Max = floor-band, 1
	sep, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: floor}, {X: p.X.Max, Y: floor}})
	if err != nil {
		return nil, err
	}
	sep.Color = color.Gray{Y: 160}
	p.Add(sep)
	for i, name := range names {
		col, glyph, dashes := sty[name].color, sty[name].glyph, sty[name].dashes
		var met, missed plotter.XYs
		var runs []plotter.XYs
		var run plotter.XYs
		for _, row := range rows[name] {
			if row.MeetsTarget {
				met = append(met, plotter.XY{X: row.TargetMS, Y: row.Accuracy})
				run = append(run, plotter.XY{X: row.TargetMS, Y: row.Accuracy})
				continue
			}
			missed = append(missed, plotter.XY{X: row.TargetMS, Y: floor - band*(float64(i)+0.5)/float64(len(names))})
			if len(run) > 0 {
				runs, run = append(runs, run), nil
			}
		}
		if len(run) > 0 {
			runs = append(runs, run)
		}
		for _, ru := range runs {
			l, err := plotter.NewLine(ru)
			if err != nil {
				return nil, err
			}
			l.Color, l.Dashes, l.Width = col, dashes, vg.Points(1.2)
			p.Add(l)
		}
		leg := false
		if len(met) > 0 {
			s, err := plotter.NewScatter(met)
			if err != nil {
				return nil, err
			}
			s.Color, s.Shape, s.Radius = col, glyph, vg.Points(3)
			p.Add(s)
			p.Legend.Add(name, s)
			leg = true
		}
		if len(missed) > 0 {
			s, err := plotter.NewScatter(missed)
			if err != nil {
				return nil, err
			}
			s.Color, s.Shape, s.Radius = col, glyph, vg.Points(2.5)
			p.Add(s)
			if !leg {
				p.Legend.Add(name+" (misses all)", s)
			}
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// latencyPlot draws p95 latency against target per series, with y = x.
func (r *Report) latencyPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.title("p95 latency vs target")
	p.X.Label.Text = "latency target (ms, log scale)"
	p.Y.Label.Text = "p95 latency (ms, log scale)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, r.targetTicks()
	r.padX(p)
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, msTicks{}
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	names, rows := r.series()
	sty := styles(names, rows)
	lo, hi := math.Inf(1), 0.0
	for _, row := range r.Rows {
		lo, hi = min(lo, row.TargetMS, row.P95MS), max(hi, row.TargetMS, row.P95MS)
	}
	lo = math.Max(lo, 1e-3)
	p.Y.Min, p.Y.Max = lo/1.2, hi*1.2
	diag, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: p.X.Min}, {X: p.X.Max, Y: p.X.Max}})
	if err != nil {
		return nil, err
	}
	diag.Color, diag.Dashes = color.Gray{Y: 120}, []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(diag)
	p.Legend.Add("p95 = target", diag)
	for _, name := range names {
		col, glyph, dashes := sty[name].color, sty[name].glyph, sty[name].dashes
		var xy plotter.XYs
		for _, row := range rows[name] {
			xy = append(xy, plotter.XY{X: row.TargetMS, Y: math.Max(row.P95MS, lo)})
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		l.Color, l.Dashes, s.Color, s.Shape = col, dashes, col, glyph
		p.Add(l, s)
		p.Legend.Add(name, l, s)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// memoryPlot draws, per series, the peak resident weight bytes and the
// process's peak RSS as bars on a log scale. WRX's bars are its largest
// over the targets.
func (r *Report) memoryPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.title("Peak memory per mode")
	p.Y.Label.Text = "bytes (log scale)"
	p.Y.Scale = plot.LogScale{}
	names, rows := r.series()
	weights, rss := make([]float64, len(names)), make([]float64, len(names))
	for i, name := range names {
		for _, row := range rows[name] {
			weights[i] = math.Max(weights[i], float64(row.PeakWeightBytes))
			rss[i] = math.Max(rss[i], float64(row.PeakRSSBytes))
		}
	}
	lo, hi := math.Inf(1), 1.0
	for _, v := range slices.Concat(weights, rss) {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		lo = 1
	}
	p.Y.Min, p.Y.Max = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi*1.5)))
	p.Y.Tick.Marker = byteTicks{}
	const w = 0.36
	rssLabel := "process peak RSS"
	if !r.Meta.Isolated {
		rssLabel += " (one process for all modes)"
	}
	for j, set := range []struct {
		vals  []float64
		label string
		col   color.Color
	}{{weights, "peak resident weight bytes", color.RGBA{R: 40, G: 100, B: 200, A: 255}},
		{rss, rssLabel, color.RGBA{R: 230, G: 140, B: 40, A: 255}}} {
		bars := &logBars{vals: set.vals, offset: (float64(j) - 0.5) * w, width: w, color: set.col}
		p.Add(bars)
		p.Legend.Add(set.label, bars)
		var labels plotter.XYLabels
		for i, v := range set.vals {
			if v > 0 {
				labels.XYs = append(labels.XYs, plotter.XY{X: float64(i) + bars.offset, Y: v})
				labels.Labels = append(labels.Labels, units.FormatBytesShort(int64(v)))
			}
		}
		if len(labels.XYs) > 0 {
			l, err := plotter.NewLabels(labels)
			if err != nil {
				return nil, err
			}
			for i := range l.TextStyle {
				l.TextStyle[i].Font.Size = vg.Points(7)
				l.TextStyle[i].XAlign = draw.XCenter
				l.TextStyle[i].YAlign = draw.YBottom
			}
			p.Add(l)
		}
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 9
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return p, nil
}

// logBars is a bar chart that works on a log-scaled y axis: each bar rises
// from the axis minimum rather than from zero.
type logBars struct {
	vals          []float64
	offset, width float64
	color         color.Color
}

func (b *logBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	bottom := trY(plt.Y.Min)
	for i, v := range b.vals {
		if v <= plt.Y.Min {
			continue
		}
		x0, x1 := trX(float64(i)+b.offset-b.width/2), trX(float64(i)+b.offset+b.width/2)
		top := trY(v)
		poly := c.ClipPolygonY([]vg.Point{{X: x0, Y: bottom}, {X: x1, Y: bottom}, {X: x1, Y: top}, {X: x0, Y: top}})
		c.FillPolygon(b.color, poly)
	}
}

func (b *logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = b.offset-b.width, float64(len(b.vals)-1)+b.offset+b.width
	ymin, ymax = math.Inf(1), 0
	for _, v := range b.vals {
		if v > 0 {
			ymin, ymax = min(ymin, v), max(ymax, v)
		}
	}
	if ymax == 0 {
		ymin, ymax = 1, 1
	}
	return
}

func (b *logBars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}

// byteTicks labels powers of ten of bytes with decimal units.
type byteTicks struct{}

func (byteTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		if v < lo || v > hi {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: units.FormatBytesShort(int64(v))})
		for _, m := range []float64{2, 5} {
			if m*v <= hi {
				ticks = append(ticks, plot.Tick{Value: m * v})
			}
		}
	}
	return ticks
}
