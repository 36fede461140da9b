package oauthweb

import (
	"encoding/xml"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var chartCoord = regexp.MustCompile(`\b(?:x|y|x1|y1|x2|y2|cx|cy)="([^"]*)"|points="([^"]*)"`)

// checkChart fails unless svg is well-formed XML with a single svg root,
// with no NaN or infinity, and with every coordinate inside the view box.
func checkChart(t *testing.T, svg string) {
	t.Helper()
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an svg element: %.80s", svg)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "style="} {
		if strings.Contains(svg, bad) {
			t.Errorf("chart contains %q:\n%s", bad, svg)
		}
	}
	for _, m := range chartCoord.FindAllStringSubmatch(svg, -1) {
		for _, n := range strings.FieldsFunc(m[1]+" "+m[2], func(r rune) bool { return r == ' ' || r == ',' }) {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 || f > chartWidth {
				t.Errorf("coordinate %q outside the chart", n)
			}
		}
	}
}

func series(n int, value func(i int) float64) []chartPoint {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pts := make([]chartPoint, n)
	for i := range pts {
		pts[i] = chartPoint{T: t0.Add(time.Duration(i) * time.Minute), V: value(i)}
	}
	return pts
}

func TestChart_NoPointsNoChart(t *testing.T) {
	svg, err := chartSVG("value", nil)
	if err != nil || svg != "" {
		t.Fatalf("%q %v, want nothing", svg, err)
	}
}

// TestChart_OnePointIsADot: a single reading is a dot in the middle, between
// round values around it, with its time, and no line.
func TestChart_OnePointIsADot(t *testing.T) {
	svg, err := chartSVG("value", series(1, func(int) float64 { return 21.5 }))
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	checkChart(t, s)
	if strings.Count(s, "<circle") != 1 || strings.Contains(s, "<polyline") {
		t.Errorf("want one dot and no line:\n%s", s)
	}
	if !strings.Contains(s, `cx="`+coord((chartLeft+chartWidth-chartRight)/2)+`"`) || !strings.Contains(s, ">20<") || !strings.Contains(s, ">22<") || !strings.Contains(s, ">2026-03-01 12:00:00 UTC<") {
		t.Errorf("dot not centred, or value or time label missing:\n%s", s)
	}
}

// TestChart_ManyPoints: a line through every point, oldest at the left edge
// and newest at the right, a dot on the newest only, the range on the axis.
func TestChart_ManyPoints(t *testing.T) {
	pts := series(200, func(i int) float64 { return float64(i%41 - 20) })
	svg, err := chartSVG("value", pts)
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	checkChart(t, s)
	line := regexp.MustCompile(`<polyline points="([^"]*)"`).FindStringSubmatch(s)
	if line == nil || len(strings.Fields(line[1])) != 200 {
		t.Fatalf("want a line through 200 points:\n%s", s)
	}
	xy := strings.Fields(line[1])
	if !strings.HasPrefix(xy[0], coord(chartLeft)+",") || !strings.HasPrefix(xy[199], coord(chartWidth-chartRight)+",") {
		t.Errorf("line from %s to %s, want edge to edge", xy[0], xy[199])
	}
	if strings.Count(s, "<circle") != 1 || !strings.Contains(s, `<circle cx="`+coord(chartWidth-chartRight)+`"`) {
		t.Error("want one dot, on the newest point")
	}
	for _, label := range []string{">12:00:00 UTC<", ">15:19:00 UTC<", ">20<", ">0<", ">-20<"} {
		if !strings.Contains(s, label) {
			t.Errorf("no label %s", label)
		}
	}
}

// TestChart_DegenerateInputsStayFinite: equal values, equal times and values
// near the float64 limits give no NaN and stay inside the picture.
func TestChart_DegenerateInputsStayFinite(t *testing.T) {
	sameTime := series(3, func(i int) float64 { return float64(i) })
	for i := range sameTime {
		sameTime[i].T = sameTime[0].T
	}
	cases := map[string][]chartPoint{
		"flat":          series(10, func(int) float64 { return 7 }),
		"flat zero":     series(10, func(int) float64 { return 0 }),
		"same time":     sameTime,
		"huge range":    series(4, func(i int) float64 { return math.MaxFloat64 * float64(i%2*2-1) }),
		"flat at limit": series(3, func(int) float64 { return math.MaxFloat64 }),
		"tiny values":   series(5, func(i int) float64 { return float64(i) * 1e-300 }),
		"subnormal":     series(2, func(i int) float64 { return float64(i) * 5e-324 }),
	}
	for name, pts := range cases {
		t.Run(name, func(t *testing.T) {
			svg, err := chartSVG(name, pts)
			if err != nil {
				t.Fatal(err)
			}
			checkChart(t, string(svg))
		})
	}
}

// TestChart_TicksAreRoundNumbers: grid lines are 1, 2 or 5 times a power of
// ten apart and enclose the data.
func TestChart_TicksAreRoundNumbers(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{10.05, 18.57, "10 15 20"},
		{45, 75, "40 50 60 70 80"},
		{0.0012, 0.0031, "0.001 0.0015 0.002 0.0025 0.003 0.0035"},
		{-3, 7, "-5 0 5 10"},
		{1e6, 4e6, "1e+06 2e+06 3e+06 4e+06"},
	}
	for _, tc := range cases {
		var got []string
		for _, v := range chartTicks(tc.lo, tc.hi) {
			got = append(got, chartNumber(v))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ticks for %g..%g: %v, want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}

// TestChart_LabelEscaped: the label, which holds a user's field name, cannot
// break out of the SVG.
func TestChart_LabelEscaped(t *testing.T) {
	svg, err := chartSVG(`"><script>alert(1)</script>`, series(2, func(i int) float64 { return float64(i) }))
	if err != nil {
		t.Fatal(err)
	}
	checkChart(t, string(svg))
	if strings.Contains(string(svg), "<script>") {
		t.Fatalf("label not escaped:\n%s", svg)
	}
}

// TestChart_TimeLabelsAcrossDays: readings over more than a day are labelled
// with dates.
func TestChart_TimeLabelsAcrossDays(t *testing.T) {
	pts := series(2, func(i int) float64 { return float64(i) })
	pts[1].T = pts[0].T.Add(36 * time.Hour)
	svg, _ := chartSVG("value", pts)
	if !strings.Contains(string(svg), ">2026-03-01 12:00 UTC<") || !strings.Contains(string(svg), ">2026-03-03 00:00 UTC<") {
		t.Errorf("want dated labels:\n%s", svg)
	}
}
