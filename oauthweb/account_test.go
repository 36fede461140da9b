package oauthweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignup_FirstUserIsAdminAndSignedIn(t *testing.T) {
	env := newTestEnv(t)
	first := env.browser("127.0.0.1")
	res, _ := first.submit("/signup", "/signup", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/keys" {
		t.Fatalf("sign-up: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := first.get("/keys"); res.StatusCode != 200 || !contains(body, "alice") {
		t.Fatalf("after sign-up, /keys: %d", res.StatusCode)
	}
	second := env.browser("127.0.0.1")
	second.submit("/signup", "/signup", url.Values{"username": {"bobby"}, "password": {"bobby-password"}})
	for name, admin := range map[string]bool{"alice": true, "bobby": false} {
		u, err := env.store.User(name)
		if err != nil || u.Admin != admin {
			t.Errorf("%s: admin %v (%v), want %v", name, u.Admin, err, admin)
		}
	}
}

func TestSignup_BadInputAndTakenName(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	cases := []struct {
		name, user, password string
		status               int
		says                 string
	}{
		{"taken", "alice", "another-password", 409, "taken"},
		{"bad name", "Alice/x", "good-password", 400, "4 to 32 characters"},
		{"short password", "bobby", "short", 400, "at least 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := b.submit("/signup", "/signup", url.Values{"username": {tc.user}, "password": {tc.password}})
			if res.StatusCode != tc.status || !contains(body, tc.says) {
				t.Fatalf("%d, want %d saying %q", res.StatusCode, tc.status, tc.says)
			}
		})
	}
}

// TestSignup_Closed: with Signup off, the page and the form answer 403 and
// say so, and no account is made.
func TestSignup_Closed(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Signup = false })
	b := env.browser("127.0.0.1")
	res, body := b.get("/signup")
	if res.StatusCode != http.StatusForbidden || !contains(body, "Sign-up is closed") {
		t.Fatalf("GET /signup: %d", res.StatusCode)
	}
	b.get("/login") // a pre-session, so the refusal is not a CSRF one
	res, body = b.post("/signup", url.Values{"username": {"alice"}, "password": {"alice-password"}, csrfField: {b.csrf("/login")}})
	if res.StatusCode != http.StatusForbidden || !contains(body, "Sign-up is closed") {
		t.Fatalf("POST /signup: %d", res.StatusCode)
	}
	if users, _ := env.store.Users(); len(users) != 0 {
		t.Fatalf("closed sign-up made %d users", len(users))
	}
}

// TestSession_CookieFlags: the session cookie is Secure, with the __Host-
// prefix, when wotkit serves TLS and when its public URL is https (TLS ended
// by a proxy in front of it), and only then.
func TestSession_CookieFlags(t *testing.T) {
	cases := []struct {
		name      string
		tls       bool
		publicURL string
		secure    bool
	}{
		{"plain HTTP", false, "http://wotkit.example:8080", false},
		{"TLS", true, "https://wotkit.example", true},
		{"TLS ended by a proxy", false, "https://wotkit.example", true},
	}
	for _, tc := range cases {
		secure := tc.secure
		env := newTestEnv(t, func(c *Config) { c.SecureCookie, c.PublicURL = tc.tls, tc.publicURL })
		env.user("alice", "alice-password")
		b := env.browser("127.0.0.1")
		form := url.Values{"username": {"alice"}, "password": {"alice-password"}}
		res, _ := b.get("/login")
		var pre string
		for _, c := range res.Cookies() {
			pre = c.Value
		}
		form.Set(csrfField, csrfToken(pre))
		req, _ := http.NewRequest("POST", env.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range res.Cookies() {
			req.AddCookie(c)
		}
		res, _ = b.do(req)
		var set string
		for _, h := range res.Header.Values("Set-Cookie") {
			if strings.Contains(h, sessionCookie+"=") {
				set = h
			}
		}
		wantName := sessionCookie
		if secure {
			wantName = "__Host-" + sessionCookie
		}
		if !strings.HasPrefix(set, wantName+"=") || !contains(set, "HttpOnly") || !contains(set, "SameSite=Lax") || !contains(set, "Path=/") {
			t.Errorf("%s: Set-Cookie %q", tc.name, set)
		}
		if contains(set, "Secure") != secure {
			t.Errorf("%s: Set-Cookie %q, want Secure %v", tc.name, set, secure)
		}
	}
}

func TestLogout_EndsSession(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	stolen := b.cookie(sessionCookie)
	res, _ := b.submit("/logout", "/logout", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := env.store.WebSession(stolen); err == nil {
		t.Fatal("session still valid in the store after logout")
	}
	replay := env.browser("127.0.0.1")
	req, _ := http.NewRequest("GET", env.srv.URL+"/keys", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: stolen})
	if res, _ := replay.do(req); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("old cookie after logout: %d, want a redirect to login", res.StatusCode)
	}
}

// TestChangePassword_EndsOtherSessions: the browser that changed the password
// stays signed in, every other one is signed out, and only the new password works.
func TestChangePassword_EndsOtherSessions(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	here, there := env.browser("127.0.0.1"), env.browser("127.0.0.1")
	here.login("alice", "alice-password")
	there.login("alice", "alice-password")

	res, body := here.submit("/account/password", "/account/password", url.Values{
		"current_password": {"wrong-password"}, "new_password": {"new-password-1"}, "new_password_again": {"new-password-1"}})
	if !contains(body, "current password is wrong") {
		t.Fatalf("wrong current password: %d", res.StatusCode)
	}
	res, body = here.submit("/account/password", "/account/password", url.Values{
		"current_password": {"alice-password"}, "new_password": {"new-password-1"}, "new_password_again": {"new-password-1"}})
	if res.StatusCode != 200 || !contains(body, "1 other signed-in browser") {
		t.Fatalf("change: %d", res.StatusCode)
	}
	if res, _ := here.get("/keys"); res.StatusCode != 200 {
		t.Errorf("the changing browser: %d, want still signed in", res.StatusCode)
	}
	if res, _ := there.get("/keys"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the other browser: %d, want signed out", res.StatusCode)
	}
	if _, err := env.store.CheckPassword("alice", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := env.store.CheckPassword("alice", "alice-password"); err == nil {
		t.Error("old password still works")
	}
}

func TestPages_RequireLogin(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser("127.0.0.1")
	res, _ := b.get("/keys/new")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fkeys%2Fnew" {
		t.Fatalf("%d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestLogin_NextStaysOnSite: an open redirect after login is refused.
func TestLogin_NextStaysOnSite(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	for next, want := range map[string]string{
		"/keys/new":            "/keys/new",
		"//evil.example/":      "/keys",
		"https://evil.example": "/keys",
		"/\\evil.example":      "/keys",
		// Browsers drop tabs and newlines from a Location: "/\t/evil.example/"
		// would be "//evil.example/". Every control character is refused.
		"/\t/evil.example/":  "/keys",
		"/\n/evil.example/":  "/keys",
		"/\r\n/evil.example": "/keys",
		"/\x00/evil.example": "/keys",
		"/\x7f/evil.example": "/keys",
		"/\u0085/evil":       "/keys",
		"\t//evil.example":   "/keys",
		"///evil.example":    "/keys",
		"/keys?x=\\":         "/keys",
		"/keys?next=%09":     "/keys?next=%09",
		"/sensors/alice.x":   "/sensors/alice.x",
	} {
		b := env.browser("127.0.0.1")
		res, _ := b.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {next}})
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next %q: to %q, want %q", next, got, want)
		}
	}
}

func TestSignup_ClosedHidesLinks(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.Signup = false })
	if _, body := env.browser("127.0.0.1").get("/login"); contains(body, `href="/signup"`) {
		t.Fatal("the login page links to a closed sign-up")
	}
}
