package gctune_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/wotkit/wotkit/gctune"
)

const mb = 1 << 20

func TestPercent_HeapGrowsByAFractionOfTheLiveHeapNotOfStacks(t *testing.T) {
	c := gctune.Config{}
	for _, tc := range []struct {
		name                  string
		live, stacks, globals uint64
		want                  int
	}{
		// 10,000 idle connections: the scanned stacks would otherwise add 75 MB to the growth.
		{"many connections", 150 * mb, 75 * mb, 1 * mb, 16},  // 37.5 MB of 226 MB
		{"few connections", 8 * mb, 1 * mb, 1 * mb, 320},     // the 32 MB floor of 10 MB
		{"large heap, no stacks", 1000 * mb, 0, 0, 25},       // a quarter
		{"tiny heap", 1 * mb, 0, 1 * mb, 500},                // the floor, clamped
		{"nothing measured yet", 0, 0, 0, 500},               //
		{"stacks dwarf the heap", 10 * mb, 2000 * mb, 0, 10}, // clamped: the collector still runs
	} {
		if got := c.Percent(tc.live, tc.stacks, tc.globals); got != tc.want {
			t.Errorf("%s: Percent(%d MB, %d MB, %d MB) = %d, want %d", tc.name, tc.live/mb, tc.stacks/mb, tc.globals/mb, got, tc.want)
		}
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestTune_SetsTheTargetAndLeavesAnOperatorsGOGC(t *testing.T) {
	t.Cleanup(func() { debug.SetGCPercent(100) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A fraction this small always gives the lowest target, 10.
	c := gctune.Config{Fraction: 0.001, Floor: 1, Interval: 10 * time.Millisecond}

	t.Setenv("GOGC", "100")
	done := make(chan struct{})
	go func() { gctune.Tune(context.Background(), c, log); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Tune kept running although GOGC is set")
	}
	if got := gogc(); got != 100 {
		t.Fatalf("with GOGC=100 set, the target became %d", got)
	}

	t.Setenv("GOGC", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go gctune.Tune(ctx, c, log)
	runtime.GC()
	deadline := time.Now().Add(5 * time.Second)
	for gogc() != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("target %d, want 10", gogc())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
