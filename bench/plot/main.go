// Command plot draws the latency percentile plot from benchmark JSON
// files (ebbench's and natsbench's): one line per system, from the rows
// of kind "latency", with the percentile on the HDR "1/(1-p)" log scale.
//
//	plot -o latency.png bench/results/2026-01-02/eventbus.json bench/results/2026-01-02/nats.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/daemoneye/eventbus/bench/internal/result"
)

// maxX is where the 100th percentile (the maximum) is drawn: one decade
// past 99.999%.
const maxX = 1e6

// series is one line of the plot.
type series struct {
	label  string
	system string
	points plotter.XYs
}

// systemOrder and systemStyle fix the order and look of known systems so
// plots from different runs read alike.
var systemOrder = []string{"eventbus", "relay", "raw", "nats"}

var systemStyle = map[string]struct {
	color  color.RGBA
	dashes []vg.Length
}{
	"eventbus": {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, nil},
	"relay":    {color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, []vg.Length{vg.Points(6), vg.Points(3)}},
	"raw":      {color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff}, []vg.Length{vg.Points(2), vg.Points(2)}},
	"nats":     {color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, []vg.Length{vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)}},
}

// options are the command's flags.
type options struct {
	out, title string
	linear     bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "latency.png", "the PNG to write")
	flag.StringVar(&o.title, "title", "", "the plot's title (default: from the data)")
	flag.BoolVar(&o.linear, "linear", false, "a linear latency axis instead of a logarithmic one")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: plot [-o latency.png] [-title T] [-linear] RESULT.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(o options, paths []string) error {
	var files []*result.File
	for _, p := range paths {
		f, err := result.Read(p)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	ss := collect(files)
	if len(ss) == 0 {
		return errors.New("no latency rows with percentiles in " + strings.Join(paths, ", "))
	}
	if o.title == "" {
		o.title = defaultTitle(files)
	}
	p := build(ss, o)
	return p.Save(9*vg.Inch, 5.5*vg.Inch, o.out)
}

// collect makes one series per latency row, in systemOrder, labelled by
// system, and by file as well when a system appears more than once.
func collect(files []*result.File) []series {
	var ss []series
	seen := map[string]int{}
	for _, f := range files {
		for _, r := range f.Rows {
			if r.Kind != result.KindLatency || len(r.Percentiles) == 0 {
				continue
			}
			ss = append(ss, series{label: r.System, system: r.System, points: points(r.Percentiles)})
			seen[r.System]++
		}
	}
	i := 0
	for _, f := range files {
		for _, r := range f.Rows {
			if r.Kind != result.KindLatency || len(r.Percentiles) == 0 {
				continue
			}
			if seen[r.System] > 1 {
				ss[i].label = r.System + " (" + filepath.Base(f.Path) + ")"
			}
			i++
		}
	}
	slices.SortStableFunc(ss, func(a, b series) int { return rank(a.system) - rank(b.system) })
	return ss
}

func rank(system string) int {
	if i := slices.Index(systemOrder, system); i >= 0 {
		return i
	}
	return len(systemOrder)
}

// points maps [percentile, µs] pairs onto the plot: x = 1/(1-p), the
// 100th percentile at maxX, and latencies below 1 µs raised to 1 µs so
// they show on a log axis.
func points(pcts [][2]float64) plotter.XYs {
	var xys plotter.XYs
	for _, pv := range pcts {
		x := maxX
		if pv[0] < 100 {
			x = min(1/(1-pv[0]/100), maxX)
		}
		xys = append(xys, plotter.XY{X: x, Y: max(pv[1], 1)})
	}
	slices.SortStableFunc(xys, func(a, b plotter.XY) int { return int(math.Copysign(1, a.X-b.X)) })
	return xys
}

// percentileTicks label the x axis in percent.
var percentileTicks = plot.ConstantTicks{
	{Value: 1, Label: "0%"},
	{Value: 2, Label: "50%"},
	{Value: 10, Label: "90%"},
	{Value: 100, Label: "99%"},
	{Value: 1e3, Label: "99.9%"},
	{Value: 1e4, Label: "99.99%"},
	{Value: 1e5, Label: "99.999%"},
	{Value: maxX, Label: "max"},
}

func build(ss []series, o options) *plot.Plot {
	p := plot.New()
	p.Title.Text = o.title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (µs)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks
	p.X.Min, p.X.Max = 1, maxX
	if !o.linear {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks125{}
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xd8}
	grid.Horizontal.Color = color.Gray{Y: 0xd8}
	p.Add(grid)
	seen := map[string]int{}
	extra := 0 // fallback colours handed out so far
	for _, s := range ss {
		line, pts, err := plotter.NewLinePoints(s.points)
		if err != nil {
			continue
		}
		// A known system's first line has its own style; an unknown system,
		// or a second line of the same system, gets the next fallback colour.
		st, ok := systemStyle[s.system]
		if !ok || seen[s.system] > 0 {
			st.color = fallbackColors[extra%len(fallbackColors)]
			extra++
		}
		seen[s.system]++
		line.Color, line.Width, line.Dashes = st.color, vg.Points(2), st.dashes
		pts.Color, pts.Shape, pts.Radius = st.color, draw.CircleGlyph{}, vg.Points(2.5)
		p.Add(line, pts)
		p.Legend.Add(s.label, line, pts)
	}
	// Bottom right: high percentiles have the highest latencies, so the
	// lines rarely pass there.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(10), vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(36)
	p.Legend.TextStyle.Font.Size = vg.Points(12)
	p.Title.TextStyle.Font.Size = vg.Points(13)
	return p
}

var fallbackColors = []color.RGBA{
	{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// logTicks125 labels 1, 2 and 5 times each power of ten, with minor ticks
// at the other multiples, so a log axis spanning a decade or two still
// has readable numbers.
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(max(lo, 1e-9))); math.Pow(10, e) <= hi; e++ {
		base := math.Pow(10, e)
		for m := 1.0; m < 10; m++ {
			v := m * base
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// defaultTitle names the payload, rate and machine from the first latency row.
func defaultTitle(files []*result.File) string {
	t := "One-way latency by percentile"
	for _, f := range files {
		for _, r := range f.Rows {
			if r.Kind == result.KindLatency {
				m := f.Report.Machine
				return fmt.Sprintf("%s: %d B at %s msg/s\n%s, %d CPUs, %s/%s",
					t, r.Size, thousands(r.Rate), m.CPUModel, m.CPUs, m.OS, m.Arch)
			}
		}
	}
	return t
}

// thousands writes n with commas: 10000 as "10,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
