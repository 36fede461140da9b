package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// TurnPlan says how runs against several brokers take turns: every run is
// ready at once, but only one works at a time, for Turn, and the next starts
// only when all that the last one started has finished. A slow stretch of a
// shared machine, which lasts seconds, then falls on every broker's turns
// alike instead of on one broker's run.
type TurnPlan struct {
	Warmup time.Duration // one unmeasured turn of each run, first
	Turn   time.Duration // how long a run works in one turn
	Turns  int           // measured turns of each run
	// Mark, when set, is called as a measured turn of run i starts.
	Mark func(run int)
	// Settle, when set, is called after every turn of run i, warm-up turns
	// included, as soon as the turn has finished and before the next turn
	// starts: it may wait until run i's broker has finished what it does after
	// a turn. An error ends the runs.
	Settle func(run int, measured bool) error
}

// valid reports whether the plan can be run for n runs.
func (p TurnPlan) valid(n int) bool { return n > 0 && p.Turn > 0 && p.Turns > 0 && p.Warmup >= 0 }

// limit bounds runs that take turns by this plan, each of whose turns may
// take drain beyond its length to finish.
func (p TurnPlan) limit(n int, drain time.Duration) time.Duration {
	return 30*time.Second + time.Duration(n*(p.Turns+1))*(p.Turn+p.Warmup+drain)
}

// turnTaker is a run that works only in its turns.
type turnTaker interface {
	// turn lets the run work for d, then waits until all it started has finished.
	turn(ctx context.Context, d time.Duration) (Turn, error)
}

// take runs the warm-up turns, then the measured ones, and returns the
// measured turns of each run. The k-th turns of all runs form a cycle; each
// cycle starts one run later than the one before.
func (p TurnPlan) take(ctx context.Context, runs []turnTaker) ([][]Turn, error) {
	settle := func(i int, measured bool) error {
		if p.Settle == nil {
			return nil
		}
		return p.Settle(i, measured)
	}
	for i, r := range runs {
		if _, err := r.turn(ctx, p.Warmup); err != nil {
			return nil, fmt.Errorf("warm-up turn of run %d: %w", i, err)
		}
		if err := settle(i, false); err != nil {
			return nil, fmt.Errorf("after the warm-up turn of run %d: %w", i, err)
		}
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	turns := make([][]Turn, len(runs))
	for k := range p.Turns {
		for _, i := range runOrder(order, k) {
			if p.Mark != nil {
				p.Mark(i)
			}
			t, err := runs[i].turn(ctx, p.Turn)
			if err != nil {
				return nil, fmt.Errorf("turn %d of run %d: %w", k+1, i, err)
			}
			if err := settle(i, true); err != nil {
				return nil, fmt.Errorf("after turn %d of run %d: %w", k+1, i, err)
			}
			turns[i] = append(turns[i], t)
		}
	}
	return turns, nil
}

// TurnsConfig describes publish runs against several brokers that take
// turns (TurnPlan); a publish turn finishes when everything sent in it has
// arrived.
type TurnsConfig struct {
	// Runs are the publish runs, one per broker; their Warmup, Duration,
	// Messages, Rate and Mark are not used.
	Runs []PubSubConfig
	TurnPlan
}

// TurnsResult is one result per run: Measured and Elapsed add up its
// measured turns, which Turns lists one by one.
type TurnsResult struct {
	Runs  []PubSubResult
	Turns [][]Turn // Turns[i][k]: the k-th measured turn of run i
}

// Turn is one measured turn: what the run counted from the gate's opening
// until all it started in the turn had finished (messages received, or
// connections accepted), and how long that took.
type Turn struct {
	Received int64
	Elapsed  time.Duration
}

// Rate is the turn's count per second.
func (t Turn) Rate() float64 { return float64(t.Received) / t.Elapsed.Seconds() }

// RunTurns runs the publish runs of cfg in turns.
func RunTurns(ctx context.Context, cfg TurnsConfig) (TurnsResult, error) {
	if !cfg.valid(len(cfg.Runs)) {
		return TurnsResult{}, errors.New("turns: need runs, a turn length and a number of turns")
	}
	runs := make([]*pubSubRun, len(cfg.Runs))
	takers := make([]turnTaker, len(cfg.Runs))
	var drain time.Duration
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	for i, c := range cfg.Runs {
		c.Duration, c.Messages, c.Rate, c.Mark = cfg.Turn, 0, 0, nil
		if err := c.defaults(); err != nil {
			return TurnsResult{}, err
		}
		drain = max(drain, c.Drain)
		runs[i] = &pubSubRun{cfg: c, base: time.Now(), abort: abort, gate: newGate()}
		takers[i] = runs[i]
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.limit(len(runs), drain))
	defer cancel()
	defer func() {
		for _, r := range runs {
			r.closeAll()
			r.readers.Wait()
		}
	}()
	for _, r := range runs {
		if err := r.connect(ctx); err != nil {
			return TurnsResult{}, err
		}
	}
	stops := make([]func() error, len(runs))
	for i, r := range runs {
		stops[i] = r.start(ctx)
		defer stops[i]()
	}

	turns, err := cfg.take(ctx, takers)
	if err != nil {
		return TurnsResult{}, err
	}
	res := TurnsResult{Runs: make([]PubSubResult, len(runs)), Turns: turns}
	for i, r := range runs {
		for _, t := range turns[i] {
			res.Runs[i].Measured += t.Received
			res.Runs[i].Elapsed += t.Elapsed
		}
		if err := stops[i](); err != nil {
			return res, r.errOr(err)
		}
		if err := r.finish(ctx, &res.Runs[i]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// turn opens the run's gate for d, shuts it, and waits until no publisher
// is at work and all they sent has arrived.
func (r *pubSubRun) turn(ctx context.Context, d time.Duration) (Turn, error) {
	r0, t0 := r.received.Load(), time.Now()
	if !r.gate.openFor(ctx, d) {
		return Turn{}, r.errOr(ctx.Err())
	}
	settled := func() bool { return r.gate.idle() && r.caughtUp() }
	if !r.drain(ctx, settled) {
		sent, acked := r.counts()
		state := fmt.Sprintf("%d publishers at work, %d sent, %d of %d received, %d acknowledged",
			r.gate.busy.Load(), sent, r.received.Load(), sent*int64(r.cfg.Subscribers), acked)
		if err := ctx.Err(); err != nil {
			return Turn{}, r.errOr(fmt.Errorf("turn not over (%s): %w", state, err))
		}
		return Turn{}, r.errOr(fmt.Errorf("messages still in flight %s after the turn (%s)", r.cfg.Drain, state))
	}
	return Turn{Received: r.received.Load() - r0, Elapsed: time.Since(t0)}, nil
}

// gate lets a run's workers (publishers, connecting clients) work only while
// it is open, and tells when none is at work: a worker passes it with enter
// and is at work until it calls leave.
type gate struct {
	ch   atomic.Pointer[chan struct{}] // closed while the gate is open
	busy atomic.Int32                  // workers past the gate, not yet left
}

// newGate returns a shut gate.
func newGate() *gate {
	g := &gate{}
	ch := make(chan struct{})
	g.ch.Store(&ch)
	return g
}

// set opens or shuts the gate. One goroutine at a time may call it. Once it
// has shut the gate, no worker passes until it opens again, and idle reports
// whether one that passed before is still at work.
func (g *gate) set(open bool) {
	ch := *g.ch.Load()
	select {
	case <-ch: // open
		if !open {
			shut := make(chan struct{})
			g.ch.Store(&shut)
		}
	default:
		if open {
			close(ch)
		}
	}
}

// enter passes the gate: at once while it is open; otherwise it flushes w (if
// any), so that what was written before the gate shut is on its way, and
// waits until the gate opens. It reports false, without passing, when ctx
// ends first. A worker that passed calls leave when its work is done.
//
// The worker counts itself busy before it looks at the gate: set stores the
// shut gate before idle reads the count (Go's atomics are sequentially
// consistent), so a worker either sees the gate shut or is counted busy.
func (g *gate) enter(ctx context.Context, w *bufio.Writer) (bool, error) {
	for {
		g.busy.Add(1)
		ch := *g.ch.Load()
		select {
		case <-ch:
			return true, nil
		default:
		}
		g.busy.Add(-1)
		if w != nil {
			if err := w.Flush(); err != nil {
				return false, err
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false, nil
		}
	}
}

// openFor opens the gate, shuts it after d, and reports whether ctx lasted
// that long.
func (g *gate) openFor(ctx context.Context, d time.Duration) bool {
	g.set(true)
	defer g.set(false)
	return sleepCtx(ctx, d)
}

// leave ends the work of a worker that passed the gate.
func (g *gate) leave() { g.busy.Add(-1) }

// idle reports whether no worker is at work.
func (g *gate) idle() bool { return g.busy.Load() == 0 }
