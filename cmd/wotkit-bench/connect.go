package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectConfig describes a connect-rate run: Workers clients each open a
// fresh TCP connection, send CONNECT, read the CONNACK, send DISCONNECT and
// close, over and over, until Duration passes or Count connects were tried.
type ConnectConfig struct {
	Addr     string
	Creds    []Cred // worker i uses Creds[i%len(Creds)]
	Workers  int
	Duration time.Duration // 0: until Count
	Count    int           // connects to try in all; 0: until Duration
	IDPrefix string        // client ids are IDPrefix-worker-n
}

// ConnectResult counts what a connect-rate run saw.
type ConnectResult struct {
	OK       int64         // CONNACK 0 received
	Refused  int64         // CONNACK with another code
	Failed   int64         // dial or I/O errors
	Elapsed  time.Duration // from the first dial to the last close
	Rate     float64       // OK per second
	FirstErr error         // the first refusal or failure, if any
}

// maxConnectRun bounds a connect run that has a Count but no Duration.
const maxConnectRun = 2 * time.Minute

// connector makes one worker's connects and counts them in res.
type connector struct {
	cfg      ConnectConfig
	res      *ConnectResult
	errOnce  sync.Once
	finished func() bool // the run is over: a connect it cut short is not counted
}

// connect opens a fresh connection as worker w's n-th client, sends
// CONNECT, reads the CONNACK, sends DISCONNECT, waits for the broker to
// close, and counts the outcome.
func (c *connector) connect(ctx context.Context, w, n int) {
	id := fmt.Sprintf("%s-%d-%d", c.cfg.IDPrefix, w, n)
	mc, err := dialMQTT(ctx, c.cfg.Addr, id, c.cfg.Creds[w%len(c.cfg.Creds)], 60, 0, 0)
	switch {
	case err == nil:
		atomic.AddInt64(&c.res.OK, 1)
		mc.disconnect()
	case c.finished():
	case errors.Is(err, ErrRefused):
		c.errOnce.Do(func() { c.res.FirstErr = err }) // before the count, which readers check first
		atomic.AddInt64(&c.res.Refused, 1)
	default:
		c.errOnce.Do(func() { c.res.FirstErr = err })
		atomic.AddInt64(&c.res.Failed, 1)
	}
}

// RunConnect measures the connect + authenticate rate.
func RunConnect(ctx context.Context, cfg ConnectConfig) (ConnectResult, error) {
	if cfg.Workers <= 0 || len(cfg.Creds) == 0 || (cfg.Duration <= 0 && cfg.Count <= 0) {
		return ConnectResult{}, errors.New("connect: need workers, credentials and a duration or count")
	}
	limit := cfg.Duration
	if limit <= 0 {
		limit = maxConnectRun
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// The dialer gives up at the deadline a little before ctx reports it
	// ended: the clock, not ctx.Err, decides whether the run is over.
	end, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }
	var (
		res   ConnectResult
		tried atomic.Int64
		wg    sync.WaitGroup
	)
	c := &connector{cfg: cfg, res: &res, finished: func() bool { return cfg.Duration > 0 && over() }}
	start := time.Now()
	for w := range cfg.Workers {
		wg.Go(func() {
			for n := 0; !over(); n++ {
				if cfg.Count > 0 && tried.Add(1) > int64(cfg.Count) {
					return
				}
				c.connect(ctx, w, n)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Rate = float64(res.OK) / res.Elapsed.Seconds()
	if cfg.Duration <= 0 && ctx.Err() != nil {
		return res, fmt.Errorf("connect: %d of %d connects after %v: %w", res.OK+res.Refused+res.Failed, cfg.Count, limit, ctx.Err())
	}
	return res, nil
}

// ConnectTurnsConfig describes connect runs against several brokers (or
// with several kinds of credential) that take turns (TurnPlan); a connect
// turn finishes when every worker's last connect has.
type ConnectTurnsConfig struct {
	Runs []ConnectConfig // their Duration and Count are not used
	TurnPlan
}

// RunConnectTurns runs the connect runs of cfg in turns and returns the
// measured turns of each. Any connect refused or failed ends the runs.
func RunConnectTurns(ctx context.Context, cfg ConnectTurnsConfig) ([][]Turn, error) {
	if !cfg.valid(len(cfg.Runs)) {
		return nil, errors.New("connect turns: need runs, a turn length and a number of turns")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.limit(len(cfg.Runs), ioTimeout))
	defer cancel()
	stop, stopAll := context.WithCancel(ctx) // ends the workers
	var wg sync.WaitGroup
	defer func() { stopAll(); wg.Wait() }()
	takers := make([]turnTaker, len(cfg.Runs))
	for i, rc := range cfg.Runs {
		if rc.Workers <= 0 || len(rc.Creds) == 0 {
			return nil, fmt.Errorf("connect turns: run %d needs workers and credentials", i)
		}
		r := &connectRun{gate: newGate()}
		r.connector = connector{cfg: rc, res: &r.res, finished: func() bool { return stop.Err() != nil }}
		for w := range rc.Workers {
			wg.Go(func() {
				for n := 0; ; n++ {
					if open, _ := r.gate.enter(stop, nil); !open { // no writer: no error
						return
					}
					r.connect(stop, w, n)
					r.gate.leave()
				}
			})
		}
		takers[i] = r
	}
	return cfg.take(ctx, takers)
}

// connectRun is one connect run that takes turns: its workers connect while
// its gate is open.
type connectRun struct {
	connector
	res  ConnectResult
	gate *gate
}

// turn opens the gate for d, shuts it, and waits until every connect begun
// in the turn has finished.
func (r *connectRun) turn(ctx context.Context, d time.Duration) (Turn, error) {
	ok0, t0 := atomic.LoadInt64(&r.res.OK), time.Now()
	slept := r.gate.openFor(ctx, d)
	for slept && !r.gate.idle() {
		slept = sleepCtx(ctx, 100*time.Microsecond)
	}
	elapsed := time.Since(t0)
	if !slept {
		return Turn{}, ctx.Err()
	}
	if refused, failed := atomic.LoadInt64(&r.res.Refused), atomic.LoadInt64(&r.res.Failed); refused+failed > 0 {
		return Turn{}, fmt.Errorf("%d connects refused, %d failed; first: %w", refused, failed, r.res.FirstErr)
	}
	return Turn{Received: atomic.LoadInt64(&r.res.OK) - ok0, Elapsed: elapsed}, nil
}
