package oauthweb

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wotkit/wotkit/metrics"
	"github.com/wotkit/wotkit/storage"
)

// /metrics is for admins and for clients on this machine; requests are
// served in-process with a remote address off this machine (no network).
func TestMetrics_AdminsAndLoopbackOnly(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Metrics = metrics.New() })
	if _, err := env.store.CreateUser(storage.NewUser{Name: "root", Password: "root password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	env.user("alice", "alice password")
	key, keyPW, err := env.store.CreateKey("root", storage.NewKey{Name: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(remote, user, pw string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = remote
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		rec := httptest.NewRecorder()
		env.portal.ServeHTTP(rec, req)
		return rec
	}
	cases := []struct {
		name, remote, user, pw string
		want                   int
	}{
		{"loopback", "127.0.0.1:5000", "", "", http.StatusOK},
		{"loopback v6", "[::1]:5000", "", "", http.StatusOK},
		{"remote anonymous", "192.0.2.10:5000", "", "", http.StatusUnauthorized},
		{"remote admin", "192.0.2.10:5000", "root", "root password", http.StatusOK},
		{"remote user", "192.0.2.10:5000", "alice", "alice password", http.StatusForbidden},
		{"remote wrong password", "192.0.2.10:5000", "root", "nope", http.StatusUnauthorized},
		{"remote admin's key", "192.0.2.10:5000", key.ID, keyPW, http.StatusForbidden},
		{"remote unknown name", "192.0.2.10:5000", "nobody", "nope", http.StatusUnauthorized},
	}
	for _, c := range cases {
		rec := get(c.remote, c.user, c.pw)
		if rec.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, rec.Code, c.want)
		}
		if challenge := rec.Header().Get("WWW-Authenticate"); (c.want == http.StatusUnauthorized) != (challenge != "") {
			t.Errorf("%s: %d with WWW-Authenticate %q; a 401, and only a 401, asks for Basic", c.name, rec.Code, challenge)
		}
		if c.want == http.StatusOK && !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("%s: no metrics in the answer", c.name)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	rec := httptest.NewRecorder()
	env.portal.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz: %d", rec.Code)
	}
}

// Wrong admin passwords to /metrics count as failed logins: after five, even
// the right one waits (429, Retry-After), as on the login page.
func TestMetrics_WrongPasswordsThrottled(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Metrics = metrics.New() })
	env.stopThrottleClock()
	if _, err := env.store.CreateUser(storage.NewUser{Name: "root", Password: "root password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	get := func(pw string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = "192.0.2.10:5000"
		req.SetBasicAuth("root", pw)
		rec := httptest.NewRecorder()
		env.portal.ServeHTTP(rec, req)
		return rec
	}
	for i := 1; i <= 5; i++ {
		if rec := get("guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, rec.Code)
		}
	}
	if rec := get("root password"); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("6th, right password: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}
