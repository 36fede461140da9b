package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RevokeConfig describes a revocation run: Sessions live connections with
// one key, then Revoke deletes the key; the run times how long until the
// broker has closed the last of them.
type RevokeConfig struct {
	Addr     string
	Key      Cred
	Sessions int
	Workers  int // connections opened at once; default 64
	IDPrefix string
	Revoke   func(ctx context.Context) error
	Timeout  time.Duration // how long to wait for the last close; default 10s
}

// RevokeResult times a revocation.
type RevokeResult struct {
	Sessions   int
	Closed     int           // sessions the broker closed within Timeout
	Call       time.Duration // how long Revoke took to return
	LastClosed time.Duration // from calling Revoke to the last session closed
}

// RunRevoke opens the sessions, revokes their key and waits for the closes.
func RunRevoke(ctx context.Context, cfg RevokeConfig) (RevokeResult, error) {
	if cfg.Sessions <= 0 || cfg.Revoke == nil {
		return RevokeResult{}, errors.New("revoke: need sessions and a revoke function")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	res := RevokeResult{Sessions: cfg.Sessions}
	conns, err := openMany(ctx, cfg.Addr, cfg.IDPrefix, []Cred{cfg.Key}, cfg.Sessions, cfg.Workers)
	defer func() { closeAll(conns) }()
	if err != nil {
		return res, fmt.Errorf("revoke: %w", err)
	}

	var (
		start  time.Time
		last   atomic.Int64 // nanoseconds after start of the latest close
		closed atomic.Int64
		wg     sync.WaitGroup
		armed  = make(chan struct{})
	)
	deadline := time.Now().Add(cfg.Timeout)
	for _, mc := range conns {
		_ = mc.nc.SetReadDeadline(deadline)
		wg.Go(func() {
			var b [64]byte
			for {
				if _, err := mc.nc.Read(b[:]); err != nil {
					var ne interface{ Timeout() bool }
					if errors.As(err, &ne) && ne.Timeout() {
						return
					}
					break
				}
			}
			<-armed
			closed.Add(1)
			at := int64(time.Since(start))
			for {
				cur := last.Load()
				if at <= cur || last.CompareAndSwap(cur, at) {
					return
				}
			}
		})
	}
	start = time.Now()
	close(armed)
	err = cfg.Revoke(ctx)
	res.Call = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("revoke: %w", err)
	}
	wg.Wait()
	res.Closed = int(closed.Load())
	res.LastClosed = time.Duration(last.Load())
	if res.Closed < res.Sessions {
		return res, fmt.Errorf("revoke: %d of %d sessions still open after %v", res.Sessions-res.Closed, res.Sessions, cfg.Timeout)
	}
	return res, nil
}
