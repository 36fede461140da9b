package oauthweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCSRF_FormPostWithoutTokenRefused: a state-changing form is accepted
// only with the token bound to this browser's session.
func TestCSRF_FormPostWithoutTokenRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("mallory", "mallory-password")
	alice := env.browser("127.0.0.1")
	alice.login("alice", "alice-password")
	mallory := env.browser("127.0.0.1")
	mallory.login("mallory", "mallory-password")
	mallorysToken := mallory.csrf("/keys/new")

	for name, token := range map[string]string{
		"no token":                  "",
		"wrong token":               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"another session's token":   mallorysToken,
		"pre-session token of mine": csrfToken(alice.cookie(preSessionCookie)),
	} {
		form := url.Values{"name": {"sneaky"}, "permissions": {"read-write"}}
		if token != "" {
			form.Set(csrfField, token)
		}
		res, _ := alice.post("/keys", form)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, res.StatusCode)
		}
	}
	if keys, _ := env.store.KeysOf("alice"); len(keys) != 0 {
		t.Fatalf("a refused form made %d keys", len(keys))
	}

	res, body := alice.submit("/keys/new", "/keys", url.Values{"name": {"weather"}, "permissions": {"read-write"}})
	if res.StatusCode != http.StatusOK || !contains(body, "weather") {
		t.Fatalf("with the right token: %d", res.StatusCode)
	}
	if keys, _ := env.store.KeysOf("alice"); len(keys) != 1 {
		t.Fatalf("with the right token: %d keys, want 1", len(keys))
	}
}

// TestCSRF_EveryLoggedInFormChecked: logout, password, reset and delete too.
func TestCSRF_EveryLoggedInFormChecked(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	id, _ := env.key("alice", "weather")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	for _, path := range []string{"/logout", "/account/password", "/keys/" + id + "/reset-password", "/keys/" + id + "/delete"} {
		res, _ := b.post(path, url.Values{"current_password": {"alice-password"}, "new_password": {"x-new-password"}, "new_password_again": {"x-new-password"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without token: %d, want 403", path, res.StatusCode)
		}
	}
	if _, err := env.store.Key(id); err != nil {
		t.Fatalf("key changed by refused forms: %v", err)
	}
	b.login("alice", "alice-password") // the session survived, the password did not change
}

// TestCSRF_LoginAndSignupNeedPreSessionToken: login CSRF (an attacker logging
// a victim into the attacker's account) is refused too.
func TestCSRF_LoginAndSignupNeedPreSessionToken(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.get("/login") // has a pre-session cookie, but sends no token
	if res, _ := b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-password"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("login without token: %d, want 403", res.StatusCode)
	}
	fresh := env.browser("127.0.0.1") // no pre-session cookie at all
	if res, _ := fresh.post("/signup", url.Values{"username": {"bobby"}, "password": {"bobby-password"}, csrfField: {b.csrf("/signup")}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-up with a token for another browser: %d, want 403", res.StatusCode)
	}
	if _, err := env.store.User("bobby"); err == nil {
		t.Error("refused sign-up made a user")
	}
}

// TestCSRF_CrossSiteFetchRefused: a browser that says the form came from
// another site is refused even with a token.
func TestCSRF_CrossSiteFetchRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	form := url.Values{"name": {"x"}, csrfField: {b.csrf("/keys/new")}}
	req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/keys", stringsReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, _ := b.do(req); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %d, want 403", res.StatusCode)
	}
}

// TestCSRF_OversizedFormIsTooLargeNotExpired: a form body over the limit is
// answered 413, saying so, rather than 403 "this form has expired", which
// would send the user to reload and lose what they typed for nothing; it
// changes nothing.
func TestCSRF_OversizedFormIsTooLargeNotExpired(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	big := strings.Repeat("a", maxBodyBytes)
	anon := env.browser("127.0.0.1")
	res, body := anon.submit("/login", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"/" + big}})
	if res.StatusCode != http.StatusRequestEntityTooLarge || !contains(body, "request body too large") {
		t.Errorf("login: %d, want 413 saying why", res.StatusCode)
	}
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body = b.submit("/keys/new", "/keys", url.Values{"name": {"weather"}, "description": {big}})
	if res.StatusCode != http.StatusRequestEntityTooLarge || !contains(body, "request body too large") {
		t.Errorf("new key: %d, want 413 saying why", res.StatusCode)
	}
	if keys, _ := env.store.KeysOf("alice"); len(keys) != 0 {
		t.Fatalf("an oversized form made %d keys", len(keys))
	}
}
