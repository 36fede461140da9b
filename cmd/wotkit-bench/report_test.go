package main

import (
	"math"
	"slices"
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
