package oauthweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestForms_SecretsInTheQueryRefused: the sign-in, sign-up and
// password-change forms read only their body. A password (or CSRF token) in
// the URL, which logs, history and Referer headers keep, is refused and
// does nothing, even when the body is right.
func TestForms_SecretsInTheQueryRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	cases := []struct {
		name, path string
		body       url.Values
		status     int
	}{
		{"login, all in the query", "/login?username=alice&password=alice-password", url.Values{}, http.StatusBadRequest},
		{"login, password in both", "/login?password=alice-password",
			url.Values{"username": {"alice"}, "password": {"alice-password"}}, http.StatusBadRequest},
		{"login, CSRF token in the query", "/login?" + csrfField + "=",
			url.Values{"username": {"alice"}, "password": {"alice-password"}}, http.StatusForbidden},
		{"sign-up, password in the query", "/signup?username=carol&password=carol-password",
			url.Values{"username": {"carol"}}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := env.browser("127.0.0.1")
			token := b.csrf("/login")
			path := tc.path
			if strings.HasSuffix(path, csrfField+"=") {
				path += token // the token travels in the URL only
			} else {
				tc.body.Set(csrfField, token)
			}
			res, _ := b.post(path, tc.body)
			if res.StatusCode != tc.status || b.cookie(sessionCookie) != "" {
				t.Fatalf("%d, session %v; want %d and no session", res.StatusCode, b.cookie(sessionCookie) != "", tc.status)
			}
		})
	}
	if _, err := env.store.User("carol"); err == nil {
		t.Error("a sign-up with its password in the URL made the account")
	}

	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	q := url.Values{"current_password": {"alice-password"}, "new_password": {"new-password-1"}, "new_password_again": {"new-password-1"}}
	res, _ := b.post("/account/password?"+q.Encode(), url.Values{csrfField: {b.csrf("/account/password")}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("password change from the query: %d, want 400", res.StatusCode)
	}
	if _, err := env.store.CheckPassword("alice", "alice-password"); err != nil {
		t.Errorf("the password changed from the URL's query: %v", err)
	}
}

// FuzzSafeNext: whatever next a login carries, where a browser goes after it
// is on this site. The browser's reading of a Location (WHATWG URL) is
// approximated: leading and trailing C0 controls and spaces dropped, tabs
// and newlines removed, backslashes read as slashes, and "///host" as "//host".
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/keys", "//evil.example", "/\t/evil.example/", "/\\evil", "///evil", "/%09/x", " /x", "/x\r\n"} {
		f.Add(s)
	}
	base := mustURL("http://wotkit.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		kept := safeNext(next)
		if kept == "" {
			return
		}
		if kept != next {
			t.Fatalf("safeNext(%q) = %q: it keeps or refuses, never rewrites", next, kept)
		}
		read := strings.TrimFunc(kept, func(r rune) bool { return r <= ' ' })
		read = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(read)
		if strings.HasPrefix(read, "//") {
			t.Fatalf("safeNext kept %q, which a browser reads as %q: another host", next, read)
		}
		u, err := base.Parse(read)
		if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("safeNext kept %q, which leads to %v (%v)", next, u, err)
		}
	})
}
