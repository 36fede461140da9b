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
		res      ConnectResult
		tried    atomic.Int64
		errOnce  sync.Once
		wg       sync.WaitGroup
		recordFn = func(err error) { errOnce.Do(func() { res.FirstErr = err }) }
	)
	start := time.Now()
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cred := cfg.Creds[w%len(cfg.Creds)]
			for n := 0; !over(); n++ {
				if cfg.Count > 0 && tried.Add(1) > int64(cfg.Count) {
					return
				}
				id := fmt.Sprintf("%s-%d-%d", cfg.IDPrefix, w, n)
				mc, err := dialMQTT(ctx, cfg.Addr, id, cred, 60, 0, 0)
				switch {
				case err == nil:
					atomic.AddInt64(&res.OK, 1)
					mc.disconnect()
				case over() && cfg.Duration > 0:
					return // the run ended mid-connect: not counted
				case errors.Is(err, ErrRefused):
					atomic.AddInt64(&res.Refused, 1)
					recordFn(err)
				default:
					atomic.AddInt64(&res.Failed, 1)
					recordFn(err)
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Rate = float64(res.OK) / res.Elapsed.Seconds()
	if cfg.Duration <= 0 && ctx.Err() != nil {
		return res, fmt.Errorf("connect: %d of %d connects after %v: %w", res.OK+res.Refused+res.Failed, cfg.Count, limit, ctx.Err())
	}
	return res, nil
}
