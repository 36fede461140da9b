package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// suiteConfig is everything `wotkit-bench suite` takes.
type suiteConfig struct {
	wotkitBin      string
	mosquittoBin   string
	mosquittoConf  string
	repeat         int
	conns          int
	revokeSessions int
	otherQueue     int
	warmup         time.Duration
	duration       time.Duration
	turn           time.Duration // a publish turn
	connectTurn    time.Duration
	turns          int
	rate           float64
	brokerCPUs     string
	loadCPUs       string
	keep           bool
}

// Load shapes shared by every broker.
const (
	connectWorkers = 32
	pubsPerUser    = 2
	subsPerUser    = 2
	payloadSize    = 64
)

// suiteCommand runs every scenario against every broker, in turns, and prints the table.
func suiteCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg suiteConfig
	fs.StringVar(&cfg.wotkitBin, "wotkit", "bin/wotkit", "the wotkit binary")
	fs.StringVar(&cfg.mosquittoBin, "mosquitto", "", "mosquitto binary (default: found in PATH or /usr/sbin; \"off\" to skip)")
	fs.StringVar(&cfg.mosquittoConf, "mosquitto-conf", "bench/mosquitto.conf.tmpl", "mosquitto config template")
	fs.IntVar(&cfg.repeat, "repeat", 3, "rounds, each of which runs every scenario (the table shows the median of the runs)")
	fs.IntVar(&cfg.conns, "conns", 10000, "idle connections for the memory figure")
	fs.IntVar(&cfg.revokeSessions, "revoke-sessions", 1000, "live sessions of the key the revocation deletes")
	fs.IntVar(&cfg.otherQueue, "compare-queue", 8192, "also run `wotkit serve --max-pending-writes N` for the memory and publish figures (0: skip)")
	fs.DurationVar(&cfg.warmup, "warmup", 500*time.Millisecond, "load before each measured window (connect, publish: each broker's first turn)")
	fs.DurationVar(&cfg.duration, "duration", 2*time.Second, "measured window of the latency scenario")
	fs.DurationVar(&cfg.turn, "turn", 400*time.Millisecond, "publish: how long each broker publishes in a turn")
	fs.DurationVar(&cfg.connectTurn, "connect-turn", 200*time.Millisecond, "connect: how long each broker takes connects in a turn")
	fs.IntVar(&cfg.turns, "turns", 10, "connect, publish: measured turns of each broker a round")
	fs.Float64Var(&cfg.rate, "rate", 4000, "offered rate of the latency scenario, messages per second in all")
	fs.StringVar(&cfg.brokerCPUs, "broker-cpus", "auto", "CPUs for the brokers (taskset list; auto: the upper half; empty: no pinning)")
	fs.StringVar(&cfg.loadCPUs, "load-cpus", "auto", "CPUs for the load (auto: the lower half)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the work directory (data, configs, broker logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || cfg.repeat < 1 || cfg.repeat > 20 || cfg.conns < 1 || cfg.revokeSessions < 1 || cfg.turn <= 0 || cfg.connectTurn <= 0 || cfg.turns < 1 {
		return errors.New("suite: bad arguments; see wotkit-bench suite -h")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if pinned, err := pinSelf(ctx, &cfg, args, stdout, stderr, log); pinned || err != nil {
		return err
	}
	s := &suite{cfg: cfg, log: log, results: map[string]map[string][]float64{}}
	return s.run(ctx, stdout)
}

// pinEnv marks a suite process that already runs on the load CPUs.
const pinEnv = "WOTKIT_BENCH_PINNED"

// pinSelf resolves auto CPU lists and, when pinning is possible and this
// process is not pinned yet, runs the suite again under taskset on the load
// CPUs; it then reports true with that run's result.
func pinSelf(ctx context.Context, cfg *suiteConfig, args []string, stdout, stderr io.Writer, log *slog.Logger) (bool, error) {
	if os.Getenv(pinEnv) != "" {
		return false, nil // the parent resolved the CPU lists and pinned this process
	}
	n := runtime.NumCPU()
	_, errTaskset := exec.LookPath("taskset")
	if n < 2 || errTaskset != nil {
		if cfg.brokerCPUs == "auto" || cfg.loadCPUs == "auto" {
			log.Warn("not pinning broker and load to different CPUs", "cpus", n, "taskset", errTaskset == nil)
		}
		cfg.brokerCPUs, cfg.loadCPUs = "", ""
		return false, nil
	}
	if cfg.brokerCPUs == "auto" {
		cfg.brokerCPUs = cpuRange(n/2, n-1)
	}
	if cfg.loadCPUs == "auto" {
		cfg.loadCPUs = cpuRange(0, n/2-1)
	}
	if cfg.loadCPUs == "" {
		return false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return true, fmt.Errorf("find own executable: %w", err)
	}
	argv := append(append([]string{"-c", cfg.loadCPUs, self, "suite"}, args...), "--broker-cpus", cfg.brokerCPUs, "--load-cpus", cfg.loadCPUs)
	cmd := exec.CommandContext(ctx, "taskset", argv...)
	cmd.Env = append(os.Environ(), pinEnv+"=1")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return true, fmt.Errorf("suite under taskset: %w", err)
	}
	return true, nil
}

// cpuRange formats a taskset CPU list.
func cpuRange(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return strconv.Itoa(from) + "-" + strconv.Itoa(to)
}

// suite is one `wotkit-bench suite` run.
type suite struct {
	cfg           suiteConfig
	log           *slog.Logger
	dir           string
	wotkit        *wotkitSetup
	otherData     string
	mosquitto     *mosquittoSetup
	skipped       string // why mosquitto is not in the table, if it is not
	columns       []string
	results       map[string]map[string][]float64 // metric -> broker -> one value per run, in the order they ran
	notes         []string
	started       time.Time
	disturbed     int // timed runs repeated because other processes took CPU time
	disturbedKept int // timed runs kept although other processes took CPU time in both attempts
}

// run sets up, runs the rounds, and prints the table.
func (s *suite) run(ctx context.Context, stdout io.Writer) error {
	s.started = time.Now()
	if err := raiseNoFile(uint64(s.cfg.conns)+4096, s.log); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "wotkit-bench-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	s.dir = dir
	if s.cfg.keep {
		s.log.Info("work directory kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := s.setup(ctx); err != nil {
		return err
	}
	for round := range s.cfg.repeat {
		if err := s.round(ctx, round); err != nil {
			return err
		}
	}
	s.printTable(stdout, time.Since(s.started))
	return nil
}

// setup makes the credentials of every broker, once.
func (s *suite) setup(ctx context.Context) error {
	bin, err := filepath.Abs(s.cfg.wotkitBin)
	if err != nil {
		return fmt.Errorf("wotkit binary: %w", err)
	}
	data := filepath.Join(s.dir, "wotkit")
	if s.wotkit, err = setupWotkit(ctx, bin, data); err != nil {
		return fmt.Errorf("set up wotkit: %w", err)
	}
	s.columns = []string{nameWotkit}
	if s.cfg.otherQueue > 0 {
		// The second server runs on a copy of the store: one server per file.
		s.otherData = filepath.Join(s.dir, "wotkit-other-queue")
		if err := copyFile(filepath.Join(data, "wotkit.db"), filepath.Join(s.otherData, "wotkit.db")); err != nil {
			return err
		}
		s.columns = append(s.columns, s.otherQueueName())
	}
	s.columns = append(s.columns, nameMochi)
	mosq := s.cfg.mosquittoBin
	switch mosq {
	case "off":
		s.skipped = "mosquitto: skipped (--mosquitto off)"
	case "":
		if p, err := exec.LookPath("mosquitto"); err == nil {
			mosq = p
		} else if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
			mosq = "/usr/sbin/mosquitto"
		} else {
			s.skipped = "mosquitto: not installed, skipped (Debian: apt-get install mosquitto)"
		}
	}
	if s.skipped == "" {
		mdir := filepath.Join(s.dir, "mosquitto")
		if err := os.MkdirAll(mdir, 0o700); err != nil {
			return fmt.Errorf("mosquitto directory: %w", err)
		}
		if s.mosquitto, err = setupMosquitto(ctx, mosq, s.cfg.mosquittoConf, mdir); err != nil {
			return fmt.Errorf("set up mosquitto: %w", err)
		}
		s.columns = append(s.columns, nameMosquitto)
	} else {
		s.log.Warn(s.skipped)
	}
	return nil
}

// otherQueueName is the column of wotkit with the other write queue.
func (s *suite) otherQueueName() string { return "wotkit q" + strconv.Itoa(s.cfg.otherQueue) }

// startTargets starts every broker for one round.
func (s *suite) startTargets(ctx context.Context, round int) ([]*target, error) {
	var ts []*target
	logFile := func(name string) string {
		return filepath.Join(s.dir, fmt.Sprintf("%s-round%d.log", name, round))
	}
	t, err := startWotkit(ctx, s.wotkit, nameWotkit, "", s.cfg.brokerCPUs, logFile("wotkit"))
	if err != nil {
		return nil, err
	}
	ts = append(ts, t)
	if s.cfg.otherQueue > 0 {
		t, err := startWotkit(ctx, s.wotkit, s.otherQueueName(), s.otherData, s.cfg.brokerCPUs, logFile("wotkit-other-queue"),
			"--max-pending-writes", strconv.Itoa(s.cfg.otherQueue))
		if err != nil {
			stopTargets(ts, s.log)
			return nil, err
		}
		ts = append(ts, t)
	}
	t, err = startSelf(ctx, nameMochi, s.cfg.brokerCPUs, logFile("mochi"), "mochi")
	if err != nil {
		stopTargets(ts, s.log)
		return nil, err
	}
	t.keys = mochiCreds()
	ts = append(ts, t)
	if s.mosquitto != nil {
		t, err := startMosquitto(ctx, s.mosquitto, s.cfg.brokerCPUs, logFile("mosquitto"))
		if err != nil {
			stopTargets(ts, s.log)
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// stopTargets stops every broker of a round.
func stopTargets(ts []*target, log *slog.Logger) {
	for _, t := range ts {
		if err := t.proc.stop(); err != nil {
			log.Warn("stop broker", "broker", t.name, "error", err)
		}
	}
}

// scenario is one measurement. It has either run, which measures one broker
// and returns metric -> value, or turns, which measures every broker it
// applies to at once, the brokers taking turns, and returns broker -> metric
// -> one value per turn.
type scenario struct {
	name    string
	applies func(t *target) bool
	run     func(ctx context.Context, t *target, round int) (map[string]float64, error)
	turns   func(ctx context.Context, ts []*target, round int) (map[string]map[string][]float64, error)
	// timed scenarios are repeated when another process took CPU time meanwhile.
	timed bool
}

// Other sessions may share this machine. A timed run during which other
// processes used more than maxForeignCPU cores is repeated, once.
// Repeats stop once the suite has run for retryBudget, so that it ends in
// about five minutes on two cores however busy the machine is.
const (
	maxForeignCPU = 0.25
	maxRetries    = 1
	retryBudget   = 3*time.Minute + 30*time.Second
)

// foreignCPU starts measuring the CPU time other processes use; the returned
// function gives it in cores since the call.
func foreignCPU(ts []*target) (func() float64, error) {
	ours := map[int]bool{os.Getpid(): true}
	for _, t := range ts {
		ours[t.pid] = true
	}
	c0, err := othersCPU(ours)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	return func() float64 {
		c1, err := othersCPU(ours)
		if err != nil {
			return 0
		}
		return max(0, (c1-c0).Seconds()/time.Since(t0).Seconds())
	}, nil
}

// round starts the brokers, runs each scenario against each broker in turn
// (runOrder), each run starting once the broker before it is idle, and stops
// them.
func (s *suite) round(ctx context.Context, round int) error {
	ts, err := s.startTargets(ctx, round)
	if err != nil {
		return err
	}
	defer stopTargets(ts, s.log)
	for _, sc := range s.scenarios() {
		var applied []*target
		for _, t := range runOrder(ts, round) {
			if sc.applies == nil || sc.applies(t) {
				applied = append(applied, t)
			}
		}
		if sc.turns != nil {
			var vals map[string]map[string][]float64
			err := s.runChecked(ctx, sc, "all", ts, func() (err error) {
				if vals, err = sc.turns(ctx, applied, round); err != nil {
					return err
				}
				return awaitIdle(ctx, applied)
			})
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, sc.name, err)
			}
			for _, t := range applied {
				for m, vs := range vals[t.name] {
					for _, v := range vs {
						s.record(m, t.name, v)
					}
				}
			}
			continue
		}
		for _, t := range applied {
			var vals map[string]float64
			err := s.runChecked(ctx, sc, t.name, ts, func() (err error) {
				if vals, err = sc.run(ctx, t, round); err != nil {
					return err
				}
				return awaitIdle(ctx, []*target{t})
			})
			if err != nil {
				return fmt.Errorf("round %d, %s, %s: %w", round+1, sc.name, t.name, err)
			}
			for m, v := range vals {
				s.record(m, t.name, v)
			}
		}
	}
	return nil
}

// awaitIdle waits until each broker of ts is idle (awaitQuiet): what a run
// leaves a broker to do then falls in no other run, the same run repeated
// included.
func awaitIdle(ctx context.Context, ts []*target) error {
	for _, t := range ts {
		if _, _, err := awaitQuiet(ctx, t.pid); err != nil {
			return fmt.Errorf("wait for %s to be idle: %w", t.name, err)
		}
	}
	return nil
}

// runOrder is the order in which round n of a scenario goes through the
// brokers (or turn n through the runs): each starts one place later.
func runOrder[T any](ts []T, n int) []T {
	return slices.Concat(ts[n%len(ts):], ts[:n%len(ts)])
}

// runChecked calls run, and calls it again (once) when it was timed and
// other processes took CPU time meanwhile.
func (s *suite) runChecked(ctx context.Context, sc scenario, who string, ts []*target, run func() error) error {
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var foreign func() float64
		if sc.timed {
			var err error
			if foreign, err = foreignCPU(ts); err != nil {
				return err
			}
		}
		err := run()
		if err != nil || foreign == nil {
			return err
		}
		f := foreign()
		if f <= maxForeignCPU {
			return nil
		}
		if attempt == maxRetries || time.Since(s.started) > retryBudget {
			s.disturbedKept++
			return nil
		}
		s.disturbed++
		s.log.Warn("run disturbed by other processes; repeating", "scenario", sc.name, "broker", who, "foreign_cpu", fmt.Sprintf("%.2f", f))
	}
}

// record keeps one run's value of a metric for a broker.
func (s *suite) record(metric, broker string, v float64) {
	if s.results[metric] == nil {
		s.results[metric] = map[string][]float64{}
	}
	s.results[metric][broker] = append(s.results[metric][broker], v)
}

// note adds a line under the table (once).
func (s *suite) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	for _, n := range s.notes {
		if n == line {
			return
		}
	}
	s.notes = append(s.notes, line)
}

// turnCPU accounts, for runs that take turns, the CPU time of each run's
// broker in its measured turns, and after each until the broker is idle:
// what a broker does after a turn is part of the turn's cost. Settle follows
// each turn at once, so the run time awaitQuiet starts from is the run time
// at the turn's end.
type turnCPU struct {
	pids               []int // run i's broker
	began, used, after []time.Duration
	err                error // the first failure to read a broker's CPU time
}

// newTurnCPU accounts the CPU time of the brokers pids, one per run.
func newTurnCPU(pids []int) *turnCPU {
	n := len(pids)
	return &turnCPU{pids: pids, began: make([]time.Duration, n), used: make([]time.Duration, n), after: make([]time.Duration, n)}
}

// plan returns the suite's turn plan with turns of length turn, accounting
// the CPU time.
func (c *turnCPU) plan(ctx context.Context, cfg suiteConfig, turn time.Duration) TurnPlan {
	return TurnPlan{
		Warmup: cfg.warmup, Turn: turn, Turns: cfg.turns,
		Mark: func(i int) {
			t, err := runTime(c.pids[i])
			if err != nil && c.err == nil {
				c.err = fmt.Errorf("broker CPU time: %w", err)
			}
			c.began[i] = t
		},
		Settle: func(i int, measured bool) error {
			ended, quiet, err := awaitQuiet(ctx, c.pids[i])
			if err != nil {
				return err
			}
			if measured {
				c.used[i] += ended - c.began[i]
				c.after[i] += quiet - ended
			}
			return nil
		},
	}
}

// share returns run i's broker's CPU time in its turns as a share of one
// core over elapsed, the turns' length.
func (c *turnCPU) share(i int, elapsed time.Duration) float64 {
	return c.used[i].Seconds() / elapsed.Seconds()
}

// cost returns run i's broker's CPU time in and after its turns per one of
// the n things the turns counted, in microseconds.
func (c *turnCPU) cost(i int, n int64) float64 {
	return (c.used[i] + c.after[i]).Seconds() / float64(max(n, 1)) * 1e6
}

// turnRates returns the rate of each turn, and what they counted and took in all.
func turnRates(turns []Turn) (rates []float64, count int64, elapsed time.Duration) {
	rates = make([]float64, len(turns))
	for k, t := range turns {
		rates[k] = t.Rate()
		count += t.Received
		elapsed += t.Elapsed
	}
	return rates, count, elapsed
}

// cpuShare returns a function that, called at the end of a window, returns
// the CPU the broker used since this call, as a share of one core.
func cpuShare(pid int) func() float64 {
	c0, err := cpuTime(pid)
	t0 := time.Now()
	return func() float64 {
		c1, err1 := cpuTime(pid)
		if err != nil || err1 != nil {
			return 0
		}
		return (c1 - c0).Seconds() / time.Since(t0).Seconds()
	}
}

// scenarios lists the measurements in the order each round runs them.
func (s *suite) scenarios() []scenario {
	cfg := s.cfg
	isWotkitServe := func(t *target) bool { return t.name == nameWotkit }
	// The other-queue variant is there for memory, and for what its queue
	// does to messages under load; the other figures would only repeat wotkit's.
	notOtherQueue := func(t *target) bool { return t.name != s.otherQueueName() }
	// connect runs every broker's connects with keys, and wotkit's with
	// tokens, in turns.
	connect := func(ctx context.Context, ts []*target, round int) (map[string]map[string][]float64, error) {
		type run struct {
			t      *target
			metric string
			creds  []Cred
		}
		var runs []run
		for _, t := range ts {
			runs = append(runs, run{t, "connect-key", t.keys})
			if isWotkitServe(t) {
				runs = append(runs, run{t, "connect-token", t.tokens})
			}
		}
		cfgs, pids := make([]ConnectConfig, len(runs)), make([]int, len(runs))
		for i, r := range runs {
			cfgs[i] = ConnectConfig{Addr: r.t.addr, Creds: r.creds, Workers: connectWorkers, IDPrefix: fmt.Sprintf("c%d%s", round, r.metric)}
			pids[i] = r.t.pid
		}
		cpu := newTurnCPU(pids)
		turns, err := RunConnectTurns(ctx, ConnectTurnsConfig{Runs: cfgs, TurnPlan: cpu.plan(ctx, cfg, cfg.connectTurn)})
		if err = errors.Join(err, cpu.err); err != nil {
			return nil, err
		}
		out := map[string]map[string][]float64{}
		for i, r := range runs {
			rates, ok, elapsed := turnRates(turns[i])
			s.log.Info("connect", "broker", r.t.name, "metric", r.metric, "ok", ok, "rate", int(float64(ok)/elapsed.Seconds()),
				"turn_rates", fmt.Sprintf("%.0f", rates), "broker_cpu", fmt.Sprintf("%.2f", cpu.share(i, elapsed)))
			if out[r.t.name] == nil {
				out[r.t.name] = map[string][]float64{}
			}
			out[r.t.name][r.metric] = rates
			out[r.t.name][r.metric+"-cost"] = []float64{cpu.cost(i, ok)}
		}
		return out, nil
	}
	publish := func(metric string, qos byte) func(context.Context, []*target, int) (map[string]map[string][]float64, error) {
		return func(ctx context.Context, ts []*target, round int) (map[string]map[string][]float64, error) {
			runs, pids := make([]PubSubConfig, len(ts)), make([]int, len(ts))
			for i, t := range ts {
				runs[i] = PubSubConfig{
					Addr: t.addr, Users: t.keys, Publishers: pubsPerUser, Subscribers: subsPerUser, QoS: qos,
					PayloadSize: payloadSize, IDPrefix: fmt.Sprintf("%s%d", metric, round), Tag: rand.Uint32(),
				}
				pids[i] = t.pid
			}
			cpu := newTurnCPU(pids)
			res, err := RunTurns(ctx, TurnsConfig{Runs: runs, TurnPlan: cpu.plan(ctx, cfg, cfg.turn)})
			if err = errors.Join(err, cpu.err); err != nil {
				return nil, err
			}
			out := map[string]map[string][]float64{}
			for i, t := range ts {
				r := res.Runs[i]
				rates, _, _ := turnRates(res.Turns[i])
				s.log.Info("publish", "broker", t.name, "qos", qos, "sent", r.Sent, "received", r.Received, "lost", r.Lost, "foreign", r.Foreign,
					"rate", int(r.Rate), "turn_rates", fmt.Sprintf("%.0f", rates), "broker_cpu", fmt.Sprintf("%.2f", cpu.share(i, r.Elapsed)),
					"cpu_after_turns", cpu.after[i].Round(time.Millisecond))
				if r.Lost > 0 || r.Foreign > 0 {
					s.note("%s, QoS %d: %d of %d messages lost, %d foreign in one run", t.name, qos, r.Lost, r.Expected, r.Foreign)
				}
				out[t.name] = map[string][]float64{
					metric:           rates,
					metric + "-cpu":  {cpu.share(i, r.Elapsed)},
					metric + "-cost": {cpu.cost(i, r.Measured)},
				}
			}
			return out, nil
		}
	}
	return []scenario{
		{name: "idle connections", run: func(ctx context.Context, t *target, round int) (map[string]float64, error) {
			res, err := RunIdle(ctx, IdleConfig{
				Addr: t.addr, Creds: t.keys, Conns: cfg.conns, IDPrefix: fmt.Sprintf("idle%d", round), Reconnect: true,
				Settle: 500 * time.Millisecond,
				Memory: func() (int64, error) { return rss(t.pid) },
			})
			if err != nil {
				return nil, err
			}
			s.log.Info("idle", "broker", t.name, "conns", res.Conns, "rss_before_mb", res.Before>>20, "rss_after_mb", res.After>>20,
				"rss_after_reconnect_mb", res.AfterReconnect>>20,
				"per_conn_kb", fmt.Sprintf("%.1f", res.PerConn/1024), "per_conn_reconnect_kb", fmt.Sprintf("%.1f", res.PerConnReconnect/1024))
			return map[string]float64{"mem": res.PerConn / 1024, "mem-reconnect": res.PerConnReconnect / 1024}, nil
		}},
		{name: "connect", timed: true, applies: notOtherQueue, turns: connect},
		{name: "publish QoS 0", timed: true, turns: publish("qos0", 0)},
		{name: "publish QoS 1", timed: true, turns: publish("qos1", 1)},
		{name: "latency", timed: true, applies: notOtherQueue, run: func(ctx context.Context, t *target, round int) (map[string]float64, error) {
			res, err := RunPubSub(ctx, PubSubConfig{
				Addr: t.addr, Users: t.keys, Publishers: 1, Subscribers: 1, PayloadSize: payloadSize,
				Rate: cfg.rate, Warmup: cfg.warmup, Duration: cfg.duration,
				IDPrefix: fmt.Sprintf("lat%d", round), Tag: rand.Uint32(),
			})
			if err != nil {
				return nil, err
			}
			p50, p99 := res.Percentile(0.50), res.Percentile(0.99)
			s.log.Info("latency", "broker", t.name, "samples", len(res.Latencies), "lost", res.Lost, "p50", p50, "p99", p99)
			if len(res.Latencies) == 0 {
				return nil, errors.New("no latency samples")
			}
			return map[string]float64{"lat-p50": float64(p50.Microseconds()), "lat-p99": float64(p99.Microseconds())}, nil
		}},
		{name: "revocation", applies: isWotkitServe, run: func(ctx context.Context, t *target, round int) (map[string]float64, error) {
			key, del, err := t.newKey(ctx, round)
			if err != nil {
				return nil, err
			}
			res, err := RunRevoke(ctx, RevokeConfig{Addr: t.addr, Key: key, Sessions: cfg.revokeSessions, Revoke: del, IDPrefix: fmt.Sprintf("rv%d", round)})
			if err != nil {
				return nil, err
			}
			s.log.Info("revocation", "broker", t.name, "sessions", res.Sessions, "closed", res.Closed,
				"cli_returned", res.Call.Round(time.Millisecond), "last_closed", res.LastClosed.Round(time.Millisecond))
			return map[string]float64{"revoke": float64(res.LastClosed.Microseconds()) / 1000, "revoke-cli": float64(res.Call.Microseconds()) / 1000}, nil
		}},
	}
}

// copyFile copies src to dst, creating dst's directory.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	return nil
}
