package oauthweb

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// fakeClock makes a throttle whose time moves only when told.
func fakeClock(cfg throttleConfig) (*throttle, *time.Time) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t := newThrottle(cfg)
	t.now = func() time.Time { return now }
	return t, &now
}

func TestThrottle_GrowingDelaysCapped(t *testing.T) {
	th, now := fakeClock(defaultThrottleConfig)
	for i := 1; i < 5; i++ {
		th.fail("alice", "192.0.2.1")
		if w := th.wait("alice", "192.0.2.1"); w != 0 {
			t.Fatalf("after %d failures: wait %v, want none", i, w)
		}
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900}
	for i, w := range want {
		th.fail("alice", "192.0.2.1")
		if got := th.wait("alice", "192.0.2.1"); got != w*time.Second {
			t.Fatalf("failure %d: wait %v, want %v", i+5, got, w*time.Second)
		}
		*now = now.Add(w * time.Second)
		if got := th.wait("alice", "192.0.2.1"); got != 0 {
			t.Fatalf("after the wait: %v", got)
		}
	}
}

func TestThrottle_SuccessClearsAccountNotAddress(t *testing.T) {
	th, _ := fakeClock(defaultThrottleConfig)
	for range 5 {
		th.fail("alice", "192.0.2.1")
	}
	th.succeed("alice")
	if w := th.wait("alice", "192.0.2.9"); w != 0 {
		t.Errorf("account still refused after success: %v", w)
	}
	if w := th.wait("bobby", "192.0.2.1"); w == 0 {
		t.Error("address forgiven by another account's success")
	}
}

func TestThrottle_IPv6TrackedBySlash64(t *testing.T) {
	th, _ := fakeClock(defaultThrottleConfig)
	for i := range 5 {
		th.fail("", fmt.Sprintf("2001:db8::%x", i+1))
	}
	if w := th.wait("", "2001:db8::ffff"); w == 0 {
		t.Error("addresses of one /64 counted apart")
	}
	if w := th.wait("", "2001:db8:0:1::1"); w != 0 {
		t.Error("another /64 refused")
	}
}

// TestThrottle_MemoryBounded: a flood of names and addresses keeps at most
// MaxEntries records per table, and the locked-out attacker stays locked out.
func TestThrottle_MemoryBounded(t *testing.T) {
	cfg := defaultThrottleConfig
	cfg.MaxEntries = 100
	th, now := fakeClock(cfg)
	for i := range 10000 {
		th.fail(fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		*now = now.Add(time.Millisecond)
	}
	if a, b := th.size(); a > 100 || b > 100 {
		t.Fatalf("tables hold %d and %d records, want at most 100", a, b)
	}
}

func TestThrottle_JunkNamesNotTracked(t *testing.T) {
	for _, name := range []string{"", "a", "Bad Name", "x/y", "K123", "Alice"} {
		if got := throttleAccount(name); got != "" {
			t.Errorf("throttleAccount(%q) = %q, want untracked", name, got)
		}
	}
	if got := throttleAccount(" alice "); got != "alice" {
		t.Errorf("throttleAccount( alice ) = %q", got)
	}
}

// TestLogin_ThrottledAfterFiveFailures: the sixth wrong password is refused
// with 429 and Retry-After without being checked; the account is refused from
// anywhere, the address for any account, and others log in as usual.
func TestLogin_ThrottledAfterFiveFailures(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	attacker := env.browser("127.0.0.1")
	for i := 1; i <= 5; i++ {
		res, body := attacker.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"guess"}})
		if res.StatusCode != http.StatusOK || !contains(body, "Wrong user name or password.") {
			t.Fatalf("failure %d: %d", i, res.StatusCode)
		}
	}
	res, body := attacker.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("6th try: %d, Retry-After %q; want 429 and 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if !contains(body, "Too many failed logins") {
		t.Error("the 429 page does not say why")
	}

	elsewhere := env.browser("127.0.0.2")
	if res, _ := elsewhere.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}}); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("locked account from another address: %d, want 429", res.StatusCode)
	}
	if res, _ := attacker.submit("/login", "/login", url.Values{"username": {"bobby"}, "password": {"bobby-password"}}); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another account from the locked address: %d, want 429", res.StatusCode)
	}
	elsewhere.login("bobby", "bobby-password")
}

// TestLogin_FailureSaysNothingAboutUser: an unknown user and a wrong password
// get the same answer.
func TestLogin_FailureSaysNothingAboutUser(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	r1, known := b.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"wrong-password"}})
	r2, unknown := b.submit("/login", "/login", url.Values{"username": {"nobody"}, "password": {"wrong-password"}})
	strip := func(s, name string) string { return csrfInput.ReplaceAllString(replaceAll(s, name, "NAME"), "") }
	if r1.StatusCode != r2.StatusCode || strip(known, "alice") != strip(unknown, "nobody") {
		t.Fatalf("answers differ: %d vs %d", r1.StatusCode, r2.StatusCode)
	}
}

// TestAPI_BasicPasswordThrottled: the API's Basic user passwords count as logins.
func TestAPI_BasicPasswordThrottled(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	for i := 1; i <= 5; i++ {
		if res, _ := env.apiCall("GET", "/api/v1/me", "alice", "guess", ""); res.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i, res.StatusCode)
		}
	}
	res, body := env.apiCall("GET", "/api/v1/me", "alice", "alice-password", "")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("6th: %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	e := decode[apiErrorBody](t, body)
	if e.Error.Status != 429 || e.Error.Message == "" {
		t.Fatalf("body %s", body)
	}
}

// size returns the number of records kept, for tests.
func (t *throttle) size() (accounts, addrs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.accounts), len(t.addrs)
}
