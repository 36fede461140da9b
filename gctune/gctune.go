// Package gctune sets the garbage collector's target (GOGC) of a broker
// process so that the heap may grow between collections in proportion to the
// live heap alone.
//
// Since Go 1.18 the collector lets the heap grow by GOGC percent of the live
// heap plus the goroutine stacks and globals it scans. An MQTT broker holds two
// goroutines per connection (mochi's reader and writer, about 20 KB of stack
// between them, more than the connection's heap), so at GOGC=100 a server whose
// clients reconnect kept up to the memory of its connections again in garbage.
// Tune instead allows Fraction of the live heap, and at least Floor, the
// allowance the Go team's advice for such programs ("tweak GOGC") comes to;
// GOGC stays within [10, 500], so a heap under Floor/5 grows by five times
// what the collector scans rather than by Floor.
package gctune

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults for Config.
const (
	// DefaultFraction of the live heap may be allocated between collections.
	DefaultFraction = 0.25
	// DefaultFloor is the least the heap may grow between collections, so that
	// a small heap (few connections, many messages) is not collected over and over.
	DefaultFloor = 32 << 20
	// DefaultInterval is how often the target follows the heap.
	DefaultInterval = 500 * time.Millisecond
)

// Bounds of the GOGC that Tune sets.
const (
	minPercent = 10
	maxPercent = 500
)

// Config says how much the heap may grow between collections.
type Config struct {
	Fraction float64       // of the live heap; 0 means DefaultFraction
	Floor    uint64        // bytes at least; 0 means DefaultFloor
	Interval time.Duration // 0 means DefaultInterval
}

// Percent returns the GOGC at which the collector, which lets the heap grow by
// GOGC percent of live heap + scanned stacks + globals, lets it grow by
// max(Fraction × live, Floor), clamped to [10, 500].
func (c Config) Percent(live, stacks, globals uint64) int {
	c = c.withDefaults()
	growth := max(c.Fraction*float64(live), float64(c.Floor))
	base := float64(live + stacks + globals)
	if base == 0 {
		return maxPercent
	}
	return min(max(int(100*growth/base), minPercent), maxPercent)
}

func (c Config) withDefaults() Config {
	if c.Fraction <= 0 {
		c.Fraction = DefaultFraction
	}
	if c.Floor == 0 {
		c.Floor = DefaultFloor
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	return c
}

// Tune keeps the collector's target at c.Percent of the last collection's
// figures until ctx ends. It does nothing when the GOGC environment variable
// is set: the operator's choice stands.
func Tune(ctx context.Context, c Config, log *slog.Logger) {
	if v := os.Getenv("GOGC"); v != "" {
		log.Info("garbage collector target left as GOGC sets it", "gogc", v)
		return
	}
	c = c.withDefaults()
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"},
	}
	current := -1
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	for {
		metrics.Read(samples)
		p := c.Percent(samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64())
		if p != current {
			debug.SetGCPercent(p)
			current = p
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
