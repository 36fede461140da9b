package oauthweb

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/wotkit/wotkit/storage"
)

// throttleConfig sets how password logins are slowed down.
type throttleConfig struct {
	Free       int           // failures allowed before refusals start
	Base       time.Duration // the first refusal; each further failure doubles it
	Max        time.Duration // the longest refusal
	Forget     time.Duration // a record without failures for this long is dropped
	MaxEntries int           // records kept per table; bounds memory
}

// defaultThrottleConfig: after 5 failures, refuse for 1s, 2s, 4s ... up to 15 minutes.
var defaultThrottleConfig = throttleConfig{
	Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: time.Hour, MaxEntries: 10000,
}

// throttle counts failed password logins per account and per address and says
// how long each must wait. A refused attempt is answered at once (429), never
// by holding a goroutine.
type throttle struct {
	cfg throttleConfig
	now func() time.Time

	mu       sync.Mutex
	accounts map[string]*strikes
	addrs    map[string]*strikes
}

type strikes struct {
	failures int
	last     time.Time // last failure
	until    time.Time // refused before this
}

func newThrottle(cfg throttleConfig) *throttle {
	return &throttle{cfg: cfg, now: time.Now, accounts: map[string]*strikes{}, addrs: map[string]*strikes{}}
}

// throttleAccount is the table key for a submitted user name: only names that
// could exist are tracked, so junk names cannot fill the table (the address
// table still counts them).
func throttleAccount(name string) string {
	name = strings.TrimSpace(name)
	if !storage.ValidUserName(name) {
		return ""
	}
	return name
}

// throttleAddr is the table key for a client address: an IPv6 client is
// tracked by its /64, which one subscriber usually holds whole.
func throttleAddr(ip string) string {
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

// wait returns how long account and addr must still wait before a try (0: now).
func (t *throttle) wait(account, addr string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	if s := t.accounts[account]; account != "" && s != nil {
		d = max(d, s.until.Sub(now))
	}
	if s := t.addrs[throttleAddr(addr)]; s != nil {
		d = max(d, s.until.Sub(now))
	}
	return max(d, 0)
}

// fail records a failed try for account (if any) and addr.
func (t *throttle) fail(account, addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if account != "" {
		t.strike(t.accounts, account, now)
	}
	t.strike(t.addrs, throttleAddr(addr), now)
}

// succeed forgets the failures of account. The address keeps its count: one
// account's right password must not clear guesses made at others.
func (t *throttle) succeed(account string) {
	t.mu.Lock()
	delete(t.accounts, account)
	t.mu.Unlock()
}

func (t *throttle) strike(table map[string]*strikes, key string, now time.Time) {
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
	if over := s.failures - t.cfg.Free; over >= 0 {
		d := t.cfg.Max
		if over < 30 {
			d = min(t.cfg.Base<<over, t.cfg.Max)
		}
		s.until = now.Add(d)
	}
}

// evict drops forgotten records, and if the table is still full, the record
// whose last failure is oldest.
func (t *throttle) evict(table map[string]*strikes, now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, s := range table {
		if now.Sub(s.last) > t.cfg.Forget && !now.Before(s.until) {
			delete(table, k)
			continue
		}
		if oldest == "" || s.last.Before(oldestAt) {
			oldest, oldestAt = k, s.last
		}
	}
	if len(table) >= t.cfg.MaxEntries {
		delete(table, oldest)
	}
}
