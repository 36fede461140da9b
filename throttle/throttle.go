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
	pending  int       // tries Begin let through that have not ended
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
	return t.wait(subject, AddrKey(addr), now)
}

// Begin is Wait for a try about to be made. When it returns 0 the try is in
// flight until End, and counts against what is left of the free allowances
// of subject and addr: tries made at once cannot all pass before the first
// of them fails. Past an allowance, one try at a time is let through.
func (t *Throttle) Begin(subject, addr string) time.Duration {
	now := t.now()
	key := AddrKey(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.wait(subject, key, now); d > 0 {
		return d
	}
	if subject != "" {
		t.entry(t.subjects, subject, now).pending++
	}
	t.entry(t.addrs, key, now).pending++
	return 0
}

// End ends a try that Begin let through; a failed one counts as Fail does.
// (Call Succeed after a success.)
func (t *Throttle) End(subject, addr string, failed bool) {
	now := t.now()
	key := AddrKey(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if subject != "" {
		settle(t.subjects, subject)
	}
	settle(t.addrs, key)
	if failed {
		t.fail(subject, key, now)
	}
}

// settle ends a try in flight of the record under key, and drops the record
// when it holds nothing more.
func settle(table map[string]*strikes, key string) {
	s := table[key]
	if s == nil {
		return // Succeed forgot it meanwhile
	}
	s.pending = max(s.pending-1, 0)
	if s.pending == 0 && s.failures == 0 {
		delete(table, key)
	}
}

// wait is Wait under t.mu, for an address key.
func (t *Throttle) wait(subject, key string, now time.Time) time.Duration {
	var d time.Duration
	if subject != "" {
		d = t.refusal(t.subjects[subject], now, t.cfg.Free)
	}
	return max(d, t.refusal(t.addrs[key], now, t.addrFree()))
}

// refusal is how long s refuses a try at now: until its refusal ends, and,
// while the tries in flight could use up what is left of its free allowance
// (past it: while one is in flight), for Base, the shortest refusal.
func (t *Throttle) refusal(s *strikes, now time.Time, free int) time.Duration {
	if s == nil {
		return 0
	}
	d := s.until.Sub(now)
	if s.pending > 0 && s.pending >= max(free-s.failures, 1) {
		d = max(d, t.cfg.Base)
	}
	return max(d, 0)
}

// addrFree is the failures one address is allowed before refusals start.
func (t *Throttle) addrFree() int {
	if t.cfg.AddrFree == 0 {
		return t.cfg.Free
	}
	return t.cfg.AddrFree
}

// Fail records a failed try for subject (if any) and addr.
func (t *Throttle) Fail(subject, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(subject, AddrKey(addr), now)
}

// fail is Fail under t.mu, for an address key.
func (t *Throttle) fail(subject, key string, now time.Time) {
	if subject != "" {
		t.strike(t.subjects, subject, now, t.cfg.Free)
	}
	t.strike(t.addrs, key, now, t.addrFree())
}

// Succeed forgets the failures of subject. The address keeps its count: one
// subject's right secret must not clear guesses made at others.
func (t *Throttle) Succeed(subject string) {
	t.mu.Lock()
	delete(t.subjects, subject)
	t.mu.Unlock()
}

func (t *Throttle) strike(table map[string]*strikes, key string, now time.Time, free int) {
	s := t.entry(table, key, now)
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

// entry returns the record under key, adding one if there is none.
func (t *Throttle) entry(table map[string]*strikes, key string, now time.Time) *strikes {
	s := table[key]
	if s == nil {
		if len(table) >= t.cfg.MaxEntries {
			t.evict(table, now)
		}
		s = &strikes{}
		table[key] = s
	}
	return s
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
		case s.pending > 0: // a try is in flight: End will look for it
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
