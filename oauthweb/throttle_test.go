package oauthweb

import (
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wotkit/wotkit/storage"
	"github.com/wotkit/wotkit/throttle"
)

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
	env.stopThrottleClock()
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
	env.stopThrottleClock()
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

// TestLogin_ConcurrentGuessesAreThrottled: guesses sent at once are throttled
// as guesses sent one after another: no more than the free allowance is
// checked, however many arrive before the first failure is recorded. (The
// store hashes at bcrypt's default cost, so that a check takes as long as it
// does in production.)
func TestLogin_ConcurrentGuessesAreThrottled(t *testing.T) {
	store, err := storage.Open(filepath.Join(t.TempDir(), "wotkit.db"), storage.Options{BcryptCost: bcrypt.DefaultCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	if _, err := store.CreateUser(storage.NewUser{Name: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, func(c *Config) { c.Store = store })
	env.stopThrottleClock()
	const guesses = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		answers = map[int]int{}
	)
	for range guesses {
		wg.Go(func() {
			<-start
			res, _ := env.apiCall("GET", "/api/v1/me", "alice", "guess", "")
			mu.Lock()
			answers[res.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if answers[http.StatusUnauthorized] > throttle.Default.Free || answers[http.StatusUnauthorized]+answers[http.StatusTooManyRequests] != guesses {
		t.Fatalf("answers %v: want at most %d guesses checked (401), the rest refused (429)", answers, throttle.Default.Free)
	}
}
