package hooks

import (
	"testing"
	"time"
)

// The limiter first judges a message by when it arrived, so that one clock
// read serves every packet of a read. A message handled long after it
// arrived (its read goroutine descheduled, or many packets read at once)
// while the credential's other sessions used up the room of that moment
// must still be judged by now: refusing it would disconnect a client that
// kept to its rate.
func TestRate_LateMessageJudgedByNowNotRefused(t *testing.T) {
	r := newRate(1, 2) // one a second, two at once
	now := Clock()
	r.tat.Store(now + r.slack - r.interval/2) // room for one now
	arrived := now - int64(time.Hour)
	if !r.allow(arrived) {
		t.Fatal("a message that arrived an hour ago was refused although there is room now")
	}
	if r.allow(arrived) {
		t.Fatal("a second message was allowed with no room left")
	}
}

// Messages stamped with the same arrival (one read) get the burst, charged
// from that arrival; then only what time has added since, judged by now.
func TestRate_BurstOfOneReadIsCharged(t *testing.T) {
	r := newRate(1.0/3600, 3) // one an hour, three at once
	arrived := Clock()
	for i := range 3 {
		if !r.allow(arrived) {
			t.Fatalf("message %d of a burst of 3 refused", i+1)
		}
	}
	if got, want := r.tat.Load(), arrived+3*r.interval; got != want {
		t.Fatalf("three messages charged up to %d, want %d (from their arrival)", got, want)
	}
	// The credit grows continuously: any time passed since the arrival
	// lets one more through, and no more within the hour.
	more := 0
	for range 10 {
		if r.allow(arrived) {
			more++
		}
	}
	if more > 1 {
		t.Fatalf("%d more messages allowed within the hour after a burst of 3, want at most 1", more)
	}
}
