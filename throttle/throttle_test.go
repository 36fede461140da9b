package throttle

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock makes a throttle whose time moves only when told.
func fakeClock(cfg Config) (*Throttle, *time.Time) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t := New(cfg)
	t.SetClock(func() time.Time { return now })
	return t, &now
}

func TestThrottle_GrowingDelaysCapped(t *testing.T) {
	th, now := fakeClock(Default)
	for i := 1; i < 5; i++ {
		th.Fail("alice", "192.0.2.1")
		if w := th.Wait("alice", "192.0.2.1"); w != 0 {
			t.Fatalf("after %d failures: wait %v, want none", i, w)
		}
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900}
	for i, w := range want {
		th.Fail("alice", "192.0.2.1")
		if got := th.Wait("alice", "192.0.2.1"); got != w*time.Second {
			t.Fatalf("failure %d: wait %v, want %v", i+5, got, w*time.Second)
		}
		*now = now.Add(w * time.Second)
		if got := th.Wait("alice", "192.0.2.1"); got != 0 {
			t.Fatalf("after the wait: %v", got)
		}
	}
}

func TestThrottle_SuccessClearsAccountNotAddress(t *testing.T) {
	th, _ := fakeClock(Default)
	for range 5 {
		th.Fail("alice", "192.0.2.1")
	}
	th.Succeed("alice")
	if w := th.Wait("alice", "192.0.2.9"); w != 0 {
		t.Errorf("account still refused after success: %v", w)
	}
	if w := th.Wait("bobby", "192.0.2.1"); w == 0 {
		t.Error("address forgiven by another account's success")
	}
}

func TestThrottle_IPv6TrackedBySlash64(t *testing.T) {
	th, _ := fakeClock(Default)
	for i := range 5 {
		th.Fail("", fmt.Sprintf("2001:db8::%x", i+1))
	}
	if w := th.Wait("", "2001:db8::ffff"); w == 0 {
		t.Error("addresses of one /64 counted apart")
	}
	if w := th.Wait("", "2001:db8:0:1::1"); w != 0 {
		t.Error("another /64 refused")
	}
}

// TestThrottle_MemoryBounded: a flood of names and addresses keeps at most
// MaxEntries records per table, and the locked-out attacker stays locked out.
func TestThrottle_MemoryBounded(t *testing.T) {
	cfg := Default
	cfg.MaxEntries = 100
	th, now := fakeClock(cfg)
	for range cfg.Free + 10 { // refused for the longest wait, past the flood
		th.Fail("victim", "192.0.2.1")
	}
	for i := range 10000 {
		th.Fail(fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		*now = now.Add(time.Millisecond)
	}
	if a, b := th.size(); a > 100 || b > 100 {
		t.Fatalf("tables hold %d and %d records, want at most 100", a, b)
	}
	if th.Wait("victim", "198.51.100.7") <= 0 {
		t.Error("the flood of new names pushed out the record refusing guesses at victim")
	}
	if th.Wait("", "192.0.2.1") <= 0 {
		t.Error("the flood of new addresses pushed out the record refusing the guesser's address")
	}
}

// size returns the number of records kept, for tests.
func (t *Throttle) size() (subjects, addrs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subjects), len(t.addrs)
}

// TestThrottle_TriesInFlightCountAgainstTheAllowance: tries that Begin let
// through count as failures until they end, so that no more than the free
// allowance can be under way at once; past it, one try at a time.
func TestThrottle_TriesInFlightCountAgainstTheAllowance(t *testing.T) {
	th, now := fakeClock(Default)
	for i := range Default.Free {
		if w := th.Begin("alice", "192.0.2.1"); w != 0 {
			t.Fatalf("try %d in flight: wait %v, want none", i+1, w)
		}
	}
	if w := th.Begin("alice", "192.0.2.2"); w != time.Second {
		t.Fatalf("a try past the allowance while %d are in flight: wait %v, want 1s", Default.Free, w)
	}
	if w := th.Begin("bobby", "192.0.2.1"); w != time.Second {
		t.Fatalf("another account from the same address: wait %v, want 1s", w)
	}
	for range Default.Free {
		th.End("alice", "192.0.2.1", true)
	}
	if w := th.Wait("alice", "192.0.2.2"); w != time.Second {
		t.Fatalf("after %d failures: wait %v, want 1s", Default.Free, w)
	}
	*now = now.Add(time.Second)
	if w := th.Begin("alice", "192.0.2.2"); w != 0 {
		t.Fatalf("after the wait: %v", w)
	}
	if w := th.Begin("alice", "192.0.2.3"); w != time.Second {
		t.Fatalf("a second try past the allowance while one is in flight: wait %v, want 1s", w)
	}
	th.End("alice", "192.0.2.2", false)
	th.Succeed("alice")
	if w := th.Begin("alice", "192.0.2.3"); w != 0 {
		t.Fatalf("after a success: wait %v", w)
	}
	th.End("alice", "192.0.2.3", false)
	if subjects, addrs := th.size(); subjects != 0 || addrs != 1 {
		t.Errorf("records left: %d subjects, %d addresses; want 0 and 1 (the address that failed)", subjects, addrs)
	}
}
