package oauthweb

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// chartPoint is one numeric value at one time.
type chartPoint struct {
	T time.Time
	V float64
}

// Geometry of a chart in SVG user units; the picture scales to the width of
// its container (style.css), so these fix only its proportions and margins.
const (
	chartWidth   = 860
	chartHeight  = 200
	chartLeft    = 64 // room for the value labels
	chartRight   = 16
	chartTop     = 12
	chartBottom  = 30 // room for the time labels
	chartMaxDots = 40 // above this many points, only the latest gets a dot
)

// chartMarkup is the SVG. Colours and sizes are presentation attributes, not
// style attributes, which the Content-Security-Policy would block; every
// value is escaped by html/template.
const chartMarkup = `<svg class="chart" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Label}}">
<title>{{.Label}}</title>
{{range .Grid}}<line x1="{{$.X0}}" y1="{{.Y}}" x2="{{$.X1}}" y2="{{.Y}}" stroke="#e3e7ec" stroke-width="1"/>
<text x="{{$.LabelX}}" y="{{.Y}}" dy="4" text-anchor="end" font-size="12" fill="#5d6773">{{.Text}}</text>
{{end}}{{if .Area}}<polygon points="{{.Area}}" fill="#1f6feb" fill-opacity="0.08"/>
<polyline points="{{.Line}}" fill="none" stroke="#1f6feb" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>
{{end}}{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="3" fill="#1f6feb"/>
{{end}}<text x="{{.X0}}" y="{{.TimeY}}" font-size="12" fill="#5d6773">{{.From}}</text>
{{if .To}}<text x="{{.X1}}" y="{{.TimeY}}" text-anchor="end" font-size="12" fill="#5d6773">{{.To}}</text>
{{end}}</svg>`

var chartTemplate = template.Must(template.New("chart").Parse(chartMarkup))

// chartView is what chartMarkup draws; coordinates are formatted numbers.
type chartView struct {
	W, H, X0, X1, LabelX, TimeY string
	Label                       string
	Grid                        []chartLine
	Area, Line                  string // polygon and polyline points; empty for a single point
	Dots                        []chartDot
	From, To                    string // time labels; To empty when all points share one time
}

type chartLine struct{ Y, Text string }

type chartDot struct{ X, Y string }

// chartSVG draws points, oldest first, as a line chart with the value range
// at the left and the time range below, labelled for screen readers with
// label. It returns "" when there is no point to draw.
func chartSVG(label string, points []chartPoint) (template.HTML, error) {
	if len(points) == 0 {
		return "", nil
	}
	lo, hi := points[0].V, points[0].V
	t0, t1 := points[0].T, points[0].T
	for _, pt := range points[1:] {
		lo, hi = min(lo, pt.V), max(hi, pt.V)
		if pt.T.Before(t0) {
			t0 = pt.T
		}
		if pt.T.After(t1) {
			t1 = pt.T
		}
	}
	if hi/2 == lo/2 { // a flat line, or one too flat to scale, gets a range around it
		pad := max(math.Abs(lo)/10, 1)
		lo, hi = max(lo-pad, -math.MaxFloat64), min(hi+pad, math.MaxFloat64)
	}
	ticks := chartTicks(lo, hi)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	x0, x1 := float64(chartLeft), float64(chartWidth-chartRight)
	y0, y1 := float64(chartHeight-chartBottom), float64(chartTop) // y grows downwards
	// Halves keep hi-lo finite for values near ±MaxFloat64.
	scaleY := func(v float64) float64 { return y0 + (v/2-lo/2)/(hi/2-lo/2)*(y1-y0) }
	span := t1.Sub(t0)
	scaleX := func(t time.Time) float64 {
		if span <= 0 {
			return (x0 + x1) / 2
		}
		return x0 + float64(t.Sub(t0))/float64(span)*(x1-x0)
	}

	v := chartView{W: coord(chartWidth), H: coord(chartHeight), X0: coord(x0), X1: coord(x1),
		LabelX: coord(x0 - 8), TimeY: coord(chartHeight - 8), Label: label}
	for _, g := range slices.Backward(ticks) {
		v.Grid = append(v.Grid, chartLine{Y: coord(scaleY(g)), Text: chartNumber(g)})
	}
	xy := make([]string, len(points))
	for i, pt := range points {
		xy[i] = coord(scaleX(pt.T)) + "," + coord(scaleY(pt.V))
	}
	if len(points) > 1 {
		v.Line = strings.Join(xy, " ")
		v.Area = coord(scaleX(points[0].T)) + "," + coord(y0) + " " + v.Line + " " + coord(scaleX(points[len(points)-1].T)) + "," + coord(y0)
	}
	dots := points
	if len(points) > chartMaxDots {
		dots = points[len(points)-1:]
	}
	for _, pt := range dots {
		v.Dots = append(v.Dots, chartDot{X: coord(scaleX(pt.T)), Y: coord(scaleY(pt.V))})
	}
	v.From, v.To = chartTimes(t0, t1)

	var buf bytes.Buffer
	if err := chartTemplate.Execute(&buf, v); err != nil {
		return "", fmt.Errorf("draw chart: %w", err)
	}
	return template.HTML(buf.String()), nil // made, and escaped, by html/template
}

// chartTicks returns the values of the horizontal grid lines, lowest first:
// round numbers (1, 2 or 5 times a power of ten apart) from at most lo to at
// least hi, or lo, the middle and hi where rounding would overflow. lo < hi.
func chartTicks(lo, hi float64) []float64 {
	rough := (hi/2 - lo/2) / 2 // a quarter of the range, without overflow
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5} {
		if rough <= m*mag {
			step = m * mag
			break
		}
	}
	first, last := math.Floor(lo/step), math.Ceil(hi/step)
	if n := last - first; math.IsInf(first*step, 0) || math.IsInf(last*step, 0) || step == 0 || n > 8 {
		return []float64{lo, lo/2 + hi/2, hi}
	}
	var ticks []float64
	for i := first; i <= last; i++ {
		ticks = append(ticks, i*step)
	}
	return ticks
}

// coord formats a coordinate with one decimal.
func coord(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// chartNumber formats a value label with at most four significant digits.
func chartNumber(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

// chartTimes labels the first and last times, in UTC: times of day within
// one day, dates and times across days; one label when they are equal.
func chartTimes(t0, t1 time.Time) (from, to string) {
	t0, t1 = t0.UTC(), t1.UTC()
	layout := "15:04:05 UTC"
	if t1.Sub(t0) >= 24*time.Hour || t0.YearDay() != t1.YearDay() || t0.Year() != t1.Year() {
		layout = "2006-01-02 15:04 UTC"
	}
	if t0.Equal(t1) {
		return t0.Format("2006-01-02 15:04:05 UTC"), ""
	}
	return t0.Format(layout), t1.Format(layout)
}
