package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// A round in which the machine was busy slows every broker of that round:
// the ratio pairs each broker's run with the baseline's of the same round,
// so such a round does not pull the ratio the way a ratio of medians is pulled.
func TestSuiteRatio_PairsFiguresOfOneRound(t *testing.T) {
	s := &suite{results: map[string]map[string][]float64{
		"qos1": {
			nameWotkit: {103, 117, 98}, // the third round ran on a busy machine
			nameMochi:  {113, 115, 93},
		},
		"connect-key":   {nameWotkit: {10, 20, 30}},
		"connect-token": {nameWotkit: {11, 19, 30}},
	}}
	// Per round: 0.91, 1.02, 1.05; the median of medians would give 103/113 = 0.91.
	if got, want := s.ratio("qos1", nameWotkit, "qos1", nameMochi), 117.0/115; got != want {
		t.Errorf("wotkit/mochi = %.4f, want the middle round's %.4f", got, want)
	}
	if got, want := s.ratio("connect-token", nameWotkit, "connect-key", nameWotkit), 1.0; got != want {
		t.Errorf("token/key = %.4f, want %.4f", got, want)
	}
	if got := s.ratio("qos1", nameWotkit, "qos1", nameMosquitto); !math.IsNaN(got) {
		t.Errorf("ratio to a broker without figures = %v, want NaN (shown as -)", got)
	}
	s.results["qos0"] = map[string][]float64{nameWotkit: {1, 2}, nameMochi: {1}}
	if got := s.ratio("qos0", nameWotkit, "qos0", nameMochi); !math.IsNaN(got) {
		t.Errorf("ratio of rounds that do not pair = %v, want NaN", got)
	}
	s.results["revoke"] = map[string][]float64{nameWotkit: {50}, nameMochi: {0}}
	if got := s.ratio("revoke", nameWotkit, "revoke", nameMochi); !math.IsNaN(got) {
		t.Errorf("ratio to a zero baseline = %v, want NaN (shown as -)", got)
	}
}

// Each round (or cycle of turns) starts one broker later, so that no broker
// always goes first. (Each still follows the same other every time: the
// rotation keeps the order.)
func TestRunOrder_Rotates(t *testing.T) {
	ts := []string{"a", "b", "c"}
	for n, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := runOrder(ts, n); !slices.Equal(got, want) {
			t.Errorf("runOrder(%d) = %v, want %v", n, got, want)
		}
	}
	if !slices.Equal(ts, []string{"a", "b", "c"}) {
		t.Errorf("runOrder changed its input: %v", ts)
	}
}

// The interval of a median from n pairs is the k-th smallest to the k-th
// largest of them, with k from the binomial distribution: for 30 pairs the
// 10th and the 21st (coverage 95.7%; the 11th and 20th would cover only
// 90.1%), for 6 the smallest and the largest (96.9%), and for 5 none (even
// the smallest and the largest cover only 93.8%).
func TestMedianInterval_OrderStatistics(t *testing.T) {
	thirty := make([]float64, 30)
	for i := range thirty {
		thirty[i] = float64((i*7)%30 + 1) // 1..30, out of order
	}
	for _, c := range []struct {
		vs     []float64
		lo, hi float64
	}{
		{thirty, 10, 21},
		{[]float64{6, 1, 5, 2, 4, 3}, 1, 6},
	} {
		if lo, hi := medianInterval(c.vs); lo != c.lo || hi != c.hi {
			t.Errorf("medianInterval(%d values) = %v-%v, want %v-%v", len(c.vs), lo, hi, c.lo, c.hi)
		}
	}
	if lo, hi := medianInterval([]float64{1, 2, 3, 4, 5}); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("medianInterval(5 values) = %v-%v, want none", lo, hi)
	}
}

// The table says how precisely the run measured the ratios taken in turns;
// a figure with too few pairs for an interval is left out.
func TestPrintIntervals_RatiosTakenInTurns(t *testing.T) {
	wotkit, mochi := make([]float64, 30), make([]float64, 30)
	for i := range wotkit {
		wotkit[i], mochi[i] = float64(90+i), 100
	}
	s := &suite{results: map[string]map[string][]float64{
		"connect-key": {nameWotkit: wotkit[:6], nameMochi: mochi[:6]},
		"qos0":        {nameWotkit: wotkit, nameMochi: mochi},
		"qos1":        {nameWotkit: wotkit[:5], nameMochi: mochi[:5]},
	}}
	var b strings.Builder
	s.printIntervals(&b)
	want := "wotkit/mochi, the median of the pairs of turns and its 95% interval over this run's turns: " +
		"connect with a key 0.925 (0.900-0.950, 6 pairs); publish QoS 0 1.045 (0.990-1.100, 30 pairs)\n"
	if b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
}

// A goal's cell shows the ratio it was judged on, so that a ratio just under
// the goal does not read as the goal itself beside MISSED.
func TestGoal_ShowsTheRatioItJudges(t *testing.T) {
	s := &suite{results: map[string]map[string][]float64{
		"qos0": {nameWotkit: {96.998}, nameMochi: {100}},
		"qos1": {nameWotkit: {97}, nameMochi: {100}},
	}}
	goals := map[string]string{}
	for _, r := range s.rows() {
		if r.goal != nil {
			goals[r.metric] = r.goal()
		}
	}
	for metric, want := range map[string]string{
		"qos0": ">=0.97x mochi: 0.969, > mosquitto MISSED",
		"qos1": ">=0.97x mochi: 0.970, > mosquitto ok",
	} {
		if goals[metric] != want {
			t.Errorf("%s: goal %q, want %q", metric, goals[metric], want)
		}
	}
}
