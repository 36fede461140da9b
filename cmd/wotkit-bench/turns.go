package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// TurnsConfig describes publish runs against several brokers that take
// turns: every run connects at once, but only one publishes at a time, for
// Turn, and the next starts only when everything the last one sent has
// arrived. A slow stretch of a shared machine, which lasts seconds, then
// falls on every broker's turns alike instead of on one broker's run.
type TurnsConfig struct {
	// Runs are the publish runs, one per broker; their Warmup, Duration,
	// Messages, Rate and Mark are not used.
	Runs   []PubSubConfig
	Warmup time.Duration // one unmeasured turn of each run, first
	Turn   time.Duration // how long a run publishes in one turn
	Turns  int           // measured turns of each run
	// Mark, when set, is called as a measured turn of run i starts.
	Mark func(run int)
	// Settle, when set, is called after every turn of run i, warm-up turns
	// included, as soon as the turn has drained and before the next turn
	// starts: it may wait until run i's broker has finished what it does after
	// a turn. An error ends the runs.
	Settle func(run int, measured bool) error
}

// TurnsResult is one result per run: Measured and Elapsed add up its
// measured turns, which Turns lists one by one.
type TurnsResult struct {
	Runs  []PubSubResult
	Turns [][]Turn // Turns[i][k]: the k-th measured turn of run i
}

// Turn is one measured turn: the messages received from the gate's opening
// until everything sent in the turn had arrived, and how long that took.
type Turn struct {
	Received int64
	Elapsed  time.Duration
}

// Rate is the turn's messages received per second.
func (t Turn) Rate() float64 { return float64(t.Received) / t.Elapsed.Seconds() }

// RunTurns runs the publish runs of cfg in turns. The k-th turns of all runs
// form a cycle; each cycle starts one run later than the one before.
func RunTurns(ctx context.Context, cfg TurnsConfig) (TurnsResult, error) {
	if len(cfg.Runs) == 0 || cfg.Turn <= 0 || cfg.Turns <= 0 || cfg.Warmup < 0 {
		return TurnsResult{}, errors.New("turns: need runs, a turn length and a number of turns")
	}
	runs := make([]*pubSubRun, len(cfg.Runs))
	limit := 30 * time.Second
	ctx, abort := context.WithCancel(ctx)
	defer abort()
	for i, c := range cfg.Runs {
		c.Duration, c.Messages, c.Rate, c.Mark = cfg.Turn, 0, 0, nil
		if err := c.defaults(); err != nil {
			return TurnsResult{}, err
		}
		limit += time.Duration(cfg.Turns+1) * (cfg.Turn + cfg.Warmup + c.Drain)
		runs[i] = &pubSubRun{cfg: c, base: time.Now(), abort: abort, gate: newGate()}
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
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

	res := TurnsResult{Runs: make([]PubSubResult, len(runs)), Turns: make([][]Turn, len(runs))}
	settle := func(i int, measured bool) error {
		if cfg.Settle == nil {
			return nil
		}
		return cfg.Settle(i, measured)
	}
	for i, r := range runs {
		if _, err := r.turn(ctx, cfg.Warmup); err != nil {
			return res, fmt.Errorf("warm-up turn of run %d: %w", i, err)
		}
		if err := settle(i, false); err != nil {
			return res, fmt.Errorf("after the warm-up turn of run %d: %w", i, err)
		}
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	for k := range cfg.Turns {
		for _, i := range runOrder(order, k) {
			if cfg.Mark != nil {
				cfg.Mark(i)
			}
			t, err := runs[i].turn(ctx, cfg.Turn)
			if err != nil {
				return res, fmt.Errorf("turn %d of run %d: %w", k+1, i, err)
			}
			if err := settle(i, true); err != nil {
				return res, fmt.Errorf("after turn %d of run %d: %w", k+1, i, err)
			}
			res.Turns[i] = append(res.Turns[i], t)
			res.Runs[i].Measured += t.Received
			res.Runs[i].Elapsed += t.Elapsed
		}
	}
	for i, r := range runs {
		if err := stops[i](); err != nil {
			return res, r.errOr(err)
		}
		if err := r.finish(ctx, &res.Runs[i]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// turn opens the run's gate for d, shuts it, and waits until every
// publisher waits at it and all it sent has arrived.
func (r *pubSubRun) turn(ctx context.Context, d time.Duration) (Turn, error) {
	r0, t0 := r.received.Load(), time.Now()
	r.gate.set(true)
	ok := sleepCtx(ctx, d)
	r.gate.set(false)
	if !ok {
		return Turn{}, r.errOr(ctx.Err())
	}
	settled := func() bool { return r.gate.waiting.Load() >= int32(len(r.pubs)) && r.caughtUp() }
	if !r.drain(ctx, settled) {
		if err := ctx.Err(); err != nil {
			return Turn{}, r.errOr(err)
		}
		return Turn{}, r.errOr(fmt.Errorf("messages still in flight %s after the turn", r.cfg.Drain))
	}
	return Turn{Received: r.received.Load() - r0, Elapsed: time.Since(t0)}, nil
}

// gate lets a run's publishers publish only while it is open.
type gate struct {
	ch      atomic.Pointer[chan struct{}] // closed while the gate is open
	waiting atomic.Int32                  // publishers waiting for it to open
}

// newGate returns a shut gate.
func newGate() *gate {
	g := &gate{}
	ch := make(chan struct{})
	g.ch.Store(&ch)
	return g
}

// set opens or shuts the gate. One goroutine at a time may call it.
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

// await returns at once while the gate is open. Otherwise it flushes w, so
// that what was written before the gate shut is on its way, and waits until
// the gate opens or ctx ends.
func (g *gate) await(ctx context.Context, w *bufio.Writer) error {
	ch := *g.ch.Load()
	select {
	case <-ch:
		return nil
	default:
	}
	if err := w.Flush(); err != nil {
		return err
	}
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return nil
}
