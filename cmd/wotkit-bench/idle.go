package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// IdleConfig describes a memory run: open Conns authenticated connections,
// leave them idle for Settle, and read the broker's resident memory.
type IdleConfig struct {
	Addr    string
	Creds   []Cred // connection i uses Creds[i%len(Creds)]
	Conns   int
	Workers int           // connections opened at once; default 64
	Settle  time.Duration // idle time before the reading; default 1s
	// Reconnect, when set, then closes every connection, opens them all
	// again and takes a second reading: a broker that has run for a while
	// reuses memory it freed, and must clear it, where a fresh process gets
	// untouched zero pages that do not count as resident until written.
	Reconnect bool
	IDPrefix  string
	// Memory reads the broker's memory in bytes (for example RSS from /proc).
	Memory func() (int64, error)
}

// IdleResult is the broker's memory before and with the idle connections.
type IdleResult struct {
	Conns   int
	Before  int64   // bytes before the first connection
	After   int64   // bytes with Conns idle connections
	PerConn float64 // (After − Before) / Conns, in bytes

	AfterReconnect   int64   // with Reconnect: bytes with Conns idle connections, opened a second time
	PerConnReconnect float64 // (AfterReconnect − Before) / Conns
}

// RunIdle opens the connections, measures, and closes them again.
func RunIdle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Conns <= 0 || len(cfg.Creds) == 0 || cfg.Memory == nil {
		return IdleResult{}, errors.New("idle: need connections, credentials and a memory reader")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	res := IdleResult{Conns: cfg.Conns}
	var err error
	if res.Before, err = cfg.Memory(); err != nil {
		return res, fmt.Errorf("idle: memory before: %w", err)
	}
	conns, err := openMany(ctx, cfg.Addr, cfg.IDPrefix, cfg.Creds, cfg.Conns, cfg.Workers)
	defer func() { closeAll(conns) }()
	if err != nil {
		return res, fmt.Errorf("idle: %w", err)
	}
	if res.After, err = cfg.settled(ctx); err != nil {
		return res, err
	}
	res.PerConn = float64(res.After-res.Before) / float64(cfg.Conns)
	if !cfg.Reconnect {
		return res, nil
	}
	closeAll(conns)
	if !sleepCtx(ctx, cfg.Settle) {
		return res, fmt.Errorf("idle: %w", ctx.Err())
	}
	conns, err = openMany(ctx, cfg.Addr, cfg.IDPrefix+"r", cfg.Creds, cfg.Conns, cfg.Workers)
	if err != nil {
		return res, fmt.Errorf("idle: reconnect: %w", err)
	}
	if res.AfterReconnect, err = cfg.settled(ctx); err != nil {
		return res, err
	}
	res.PerConnReconnect = float64(res.AfterReconnect-res.Before) / float64(cfg.Conns)
	return res, nil
}

// settled waits Settle and reads the broker's memory.
func (cfg IdleConfig) settled(ctx context.Context) (int64, error) {
	if !sleepCtx(ctx, cfg.Settle) {
		return 0, fmt.Errorf("idle: %w", ctx.Err())
	}
	m, err := cfg.Memory()
	if err != nil {
		return 0, fmt.Errorf("idle: memory: %w", err)
	}
	return m, nil
}

// openMany opens n connections with workers dialing at once. On error it
// returns the connections opened so far (others nil) with the first error.
func openMany(ctx context.Context, addr, prefix string, creds []Cred, n, workers int) ([]*mqttConn, error) {
	conns := make([]*mqttConn, n)
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				mc, err := dialMQTT(ctx, addr, fmt.Sprintf("%s-%d", prefix, i), creds[i%len(creds)], 300, 0, 0)
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("connection %d of %d: %w", i, n, err) })
					cancel()
					return
				}
				conns[i] = mc
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return conns, first
}

// closeAll resets every open connection in conns.
func closeAll(conns []*mqttConn) {
	for _, mc := range conns {
		if mc != nil {
			mc.close()
		}
	}
}
