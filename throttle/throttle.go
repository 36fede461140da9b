// Package throttle slows down guessing: it counts failed attempts per subject
// (an account, a key id) and per client address, and says how long each must
// wait before its next try, with delays that double past a free allowance.
// A refused attempt is answered at once, never by holding a goroutine.
package throttle

import (
	"net/netip"
	"sync"
	"time"
)

// Config sets how failures are slowed down.
type Config struct {
	Free       int           // failures of one subject allowed before refusals start
	AddrFree   int           // failures from one address allowed before refusals start (0: Free)
	Base       time.Duration // the first refusal; each further failure doubles it
	Max        time.Duration // the longest refusal
	Forget     time.Duration // a record without failures for this long is dropped
	MaxEntries int           // records kept per table; bounds memory
}

// Default: after 5 failures, refuse for 1s, 2s, 4s ... up to 15 minutes.
var Default = Config{
	Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour, MaxEntries: 10000,
}

// Throttle counts failed attempts per subject and per address. It is safe
// for concurrent use and its memory is bounded by Config.MaxEntries.
type Throttle struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	subjects map[string]*strikes
	addrs    map[string]*strikes
}

type strikes struct {
	failures int
	last     time.Time // last failure
	until    time.Time // refused before this
}

// New returns a Throttle.
func New(cfg Config) *Throttle {
	return &Throttle{cfg: cfg, now: time.Now, subjects: map[string]*strikes{}, addrs: map[string]*strikes{}}
}

// SetClock replaces the clock (for tests).
func (t *Throttle) SetClock(now func() time.Time) { t.now = now }

// AddrKey is the table key for a client address (an IP, or host:port): an
// IPv6 client is tracked by its /64, which one subscriber usually holds whole.
func AddrKey(addr string) string {
	ip := addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip = ap.Addr().String()
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// Wait returns how long subject and addr must still wait before a try (0:
// now). An empty subject is not tracked (the address still is).
func (t *Throttle) Wait(subject, addr string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	if s := t.subjects[subject]; subject != "" && s != nil {
		d = max(d, s.until.Sub(now))
	}
	if s := t.addrs[AddrKey(addr)]; s != nil {
		d = max(d, s.until.Sub(now))
	}
	return max(d, 0)
}

// Fail records a failed try for subject (if any) and addr.
func (t *Throttle) Fail(subject, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if subject != "" {
		t.strike(t.subjects, subject, now, t.cfg.Free)
	}
	free := t.cfg.AddrFree
	if free == 0 {
		free = t.cfg.Free
	}
	t.strike(t.addrs, AddrKey(addr), now, free)
}

// Succeed forgets the failures of subject. The address keeps its count: one
// subject's right secret must not clear guesses made at others.
func (t *Throttle) Succeed(subject string) {
	t.mu.Lock()
	delete(t.subjects, subject)
	t.mu.Unlock()
}

func (t *Throttle) strike(table map[string]*strikes, key string, now time.Time, free int) {
	s := table[key]
	if s == nil {
		if len(table) >= t.cfg.MaxEntries {
			t.evict(table, now)
		}
		s = &strikes{}
		table[key] = s
	}
	s.failures++
	s.last = now
	if over := s.failures - free; over >= 0 {
		d := t.cfg.Max
		if over < 30 {
			d = min(t.cfg.Base<<over, t.cfg.Max)
		}
		s.until = now.Add(d)
	}
}

// evict drops forgotten records and, if the table is still full, one more:
// the record not refusing anyone whose last failure is oldest, or, when every
// record is refusing, the one whose refusal ends first. A flood of new names
// or addresses cannot push out a record that is refusing a guesser.
func (t *Throttle) evict(table map[string]*strikes, now time.Time) {
	var idle, locked string
	for k, s := range table {
		refusing := now.Before(s.until)
		switch {
		case !refusing && now.Sub(s.last) > t.cfg.Forget:
			delete(table, k)
		case !refusing && (idle == "" || s.last.Before(table[idle].last)):
			idle = k
		case refusing && (locked == "" || s.until.Before(table[locked].until)):
			locked = k
		}
	}
	if len(table) < t.cfg.MaxEntries {
		return
	}
	if idle != "" {
		delete(table, idle)
	} else {
		delete(table, locked)
	}
}
