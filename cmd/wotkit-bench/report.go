package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wotkit/wotkit/broker"
)

// row is one line of the table.
type row struct {
	metric   string
	label    string
	decimals int
	// goal judges wotkit's figures against the goal from issue 6; nil for none.
	goal func() string
}

// median returns the median of vs, or NaN when there are none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// med returns the median of a broker's runs of a figure.
func (s *suite) med(metric, broker string) float64 { return median(s.results[metric][broker]) }

// ratio returns the median of the ratios of one figure to another, each
// taken from a pair of runs made in the same round (for connect and publish,
// the same cycle of turns): a stretch in which the machine was busy with other work
// then weighs on both sides of a ratio alike. NaN when either is missing or
// the baseline is zero.
func (s *suite) ratio(metric, broker, baseMetric, baseBroker string) float64 {
	return median(s.pairRatios(metric, broker, baseMetric, baseBroker))
}

// pairRatios returns the ratios whose median ratio takes, or nil when they
// cannot be taken.
func (s *suite) pairRatios(metric, broker, baseMetric, baseBroker string) []float64 {
	a, b := s.results[metric][broker], s.results[baseMetric][baseBroker]
	if len(a) == 0 || len(a) != len(b) {
		return nil
	}
	rs := make([]float64, len(a))
	for i := range a {
		if b[i] == 0 {
			return nil
		}
		rs[i] = a[i] / b[i]
	}
	return rs
}

// medianInterval returns a confidence interval of at least 95% for the
// median of the distribution vs were drawn from, without assuming its shape:
// the k-th smallest and k-th largest of vs, for the largest k such that
// fewer than k of n draws fall below the median with probability at most
// 2.5% (the binomial distribution of n draws at one half). NaN when n is too
// small for any k (under 6).
func medianInterval(vs []float64) (lo, hi float64) {
	n := len(vs)
	k, below := 0, 0.0 // below: P(fewer than k+1 of n draws fall below the median)
	for i := 0; i < n; i++ {
		below += binomialHalf(n, i)
		if below > 0.025 {
			break
		}
		k = i + 1
	}
	if k == 0 {
		return math.NaN(), math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[k-1], s[n-k]
}

// binomialHalf returns the probability that exactly i of n fair coin tosses
// come up heads.
func binomialHalf(n, i int) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	li, _ := math.Lgamma(float64(i + 1))
	lni, _ := math.Lgamma(float64(n - i + 1))
	return math.Exp(ln - li - lni - float64(n)*math.Ln2)
}

// judged formats the ratio a goal is judged on, to three decimals rounded
// down: a ratio just under a goal never shows as the goal itself (0.9699 is
// 0.969, where two decimals rounded would show 0.97 beside MISSED). The 1e-9
// keeps a ratio at the goal, which float arithmetic may put a hair under it,
// from showing as under.
func judged(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return strconv.FormatFloat(math.Floor(r*1000+1e-9)/1000, 'f', 3, 64)
}

// verdict formats a goal check.
func verdict(ok bool, text string) string {
	if ok {
		return text + " ok"
	}
	return text + " MISSED"
}

// rows lists the table's lines, in order.
func (s *suite) rows() []row {
	vsMochi := func(metric string, min float64, beatMosquitto bool) func() string {
		return func() string {
			r := s.ratio(metric, nameWotkit, metric, nameMochi)
			text := fmt.Sprintf(">=%.2fx mochi: %s", min, judged(r))
			ok := r >= min
			if beatMosquitto {
				text += ", > mosquitto"
				if r := s.ratio(metric, nameWotkit, metric, nameMosquitto); !math.IsNaN(r) {
					ok = ok && r > 1
				}
			}
			return verdict(ok, text)
		}
	}
	atMost := func(metric string, limit float64, unit string) func() string {
		return func() string {
			return verdict(s.med(metric, nameWotkit) <= limit, fmt.Sprintf("<=%g %s", limit, unit))
		}
	}
	return []row{
		{metric: "connect-key", label: "connect+auth, key (conn/s)", goal: vsMochi("connect-key", 0.95, false)},
		{metric: "connect-token", label: "connect+auth, token (conn/s)", goal: func() string {
			r := s.ratio("connect-token", nameWotkit, "connect-key", nameWotkit)
			return verdict(r >= 0.95, ">=0.95x key: "+judged(r))
		}},
		{metric: "connect-key-cost", label: "  broker CPU per connect, key (us)", decimals: 1},
		{metric: "connect-token-cost", label: "  broker CPU per connect, token (us)", decimals: 1},
		{metric: "qos0", label: "publish QoS 0, received (msg/s)", goal: vsMochi("qos0", 0.97, true)},
		{metric: "qos1", label: "publish QoS 1, received (msg/s)", goal: vsMochi("qos1", 0.97, true)},
		{metric: "qos0-cost", label: "  broker CPU per message, QoS 0 (us)", decimals: 2},
		{metric: "qos1-cost", label: "  broker CPU per message, QoS 1 (us)", decimals: 2},
		{metric: "qos0-cpu", label: "  broker CPU busy, QoS 0 (cores)", decimals: 2},
		{metric: "qos1-cpu", label: "  broker CPU busy, QoS 1 (cores)", decimals: 2},
		{metric: "lat-p50", label: fmt.Sprintf("latency p50 @ %s msg/s (us)", thousands(s.cfg.rate))},
		{metric: "lat-p99", label: fmt.Sprintf("latency p99 @ %s msg/s (us)", thousands(s.cfg.rate))},
		{metric: "mem", label: fmt.Sprintf("RSS per idle conn @ %s, fresh (KB)", thousands(float64(s.cfg.conns))), decimals: 1,
			goal: atMost("mem", 40, "KB")},
		{metric: "mem-reconnect", label: fmt.Sprintf("RSS per idle conn @ %s, reconnected (KB)", thousands(float64(s.cfg.conns))), decimals: 1,
			goal: atMost("mem-reconnect", 40, "KB")},
		{metric: "revoke", label: fmt.Sprintf("revoke key, %s sessions (ms)", thousands(float64(s.cfg.revokeSessions))), decimals: 1,
			goal: atMost("revoke", 100, "ms")},
	}
}

// printTable prints the medians, the ratios and the goals.
func (s *suite) printTable(w io.Writer, took time.Duration) {
	pin := "not pinned"
	if s.cfg.brokerCPUs != "" {
		pin = fmt.Sprintf("brokers on CPU %s, load on CPU %s", s.cfg.brokerCPUs, s.cfg.loadCPUs)
	}
	cpus, model := cpuInfo()
	fmt.Fprintf(w, "wotkit-bench suite: median of %d rounds (a ratio: median of the ratios of runs paired in a round); %s; %d CPUs (%s); %s; took %s\n",
		s.cfg.repeat, pin, cpus, model, runtime.Version(), took.Round(time.Second))
	fmt.Fprintf(w, "connect, publish: the brokers take turns (connect %s, publish %s), %d each a round after a %s warm-up turn; median of the turns\n",
		s.cfg.connectTurn, s.cfg.turn, s.cfg.turns, s.cfg.warmup)
	fmt.Fprintf(w, "connect: %d workers; publish: %d users x (%d publishers -> %d subscribers), %d-byte payloads; latency: %s measured after %s warm-up, one broker after the other\n",
		connectWorkers, benchUsers, pubsPerUser, subsPerUser, payloadSize, s.cfg.duration, s.cfg.warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := append([]string{"figure"}, s.columns...)
	header = append(header, "wotkit/mochi")
	if s.mosquitto != nil {
		header = append(header, "wotkit/mosquitto")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\tgoal (wotkit)\t")
	for _, r := range s.rows() {
		cells := []string{r.label}
		for _, c := range s.columns {
			cells = append(cells, format(s.med(r.metric, c), r.decimals))
		}
		cells = append(cells, format(s.ratio(r.metric, nameWotkit, r.metric, nameMochi), 2))
		if s.mosquitto != nil {
			cells = append(cells, format(s.ratio(r.metric, nameWotkit, r.metric, nameMosquitto), 2))
		}
		g := ""
		if r.goal != nil {
			g = r.goal()
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t"+g+"\t")
	}
	_ = tw.Flush()
	s.printIntervals(w)
	fmt.Fprintf(w, "wotkit and mochi queue %d messages per client (MaximumClientWritesPending)", broker.DefaultMaxPendingWrites)
	if s.cfg.otherQueue > 0 {
		fmt.Fprintf(w, "; %s: wotkit serve --max-pending-writes %d", s.otherQueueName(), s.cfg.otherQueue)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "revocation: from starting `wotkit key delete` to the last of the sessions closed by the server;",
		fmt.Sprintf("the command itself returned after %s ms", format(s.med("revoke-cli", nameWotkit), 1)))
	if s.skipped != "" {
		fmt.Fprintln(w, s.skipped)
	}
	if s.disturbed > 0 {
		fmt.Fprintf(w, "other processes on this machine used more than %.2f cores during %d timed runs, which were repeated\n", maxForeignCPU, s.disturbed)
	}
	if s.disturbedKept > 0 {
		fmt.Fprintf(w, "%d timed runs were disturbed by other processes and kept (repeated once already, or out of time)\n", s.disturbedKept)
	}
	for _, n := range s.notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// printIntervals prints how precisely the run measured the ratios to mochi
// of the figures taken in turns: the median (as the goals show it) and its
// 95% interval, from its pairs of turns.
func (s *suite) printIntervals(w io.Writer) {
	var parts []string
	for _, m := range []struct{ metric, name string }{{"connect-key", "connect with a key"}, {"qos0", "publish QoS 0"}, {"qos1", "publish QoS 1"}} {
		rs := s.pairRatios(m.metric, nameWotkit, m.metric, nameMochi)
		if lo, hi := medianInterval(rs); !math.IsNaN(lo) {
			parts = append(parts, fmt.Sprintf("%s %s (%.3f-%.3f, %d pairs)", m.name, judged(median(rs)), lo, hi, len(rs)))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintln(w, "wotkit/mochi, the median of the pairs of turns and its 95% interval over this run's turns:", strings.Join(parts, "; "))
	}
}

// format prints v with thousands separators, or "-" when missing.
func format(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "-"
	}
	if decimals > 0 {
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
	return thousands(v)
}

// thousands rounds v and groups its digits by three.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// cpuInfo returns the machine's CPU count and model name from /proc/cpuinfo
// (runtime.NumCPU counts only the CPUs this process may run on).
func cpuInfo() (int, string) {
	n, model := 0, runtime.GOARCH
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU(), model
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "processor":
			n++
		case k == "model name":
			model = strings.TrimSpace(v)
		}
	}
	return max(n, 1), model
}
