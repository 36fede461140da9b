package oauthweb

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// TestBearer_MeByHeaderAndQuery: a token acts for the user who granted it,
// with permissions from its scope, sent as a Bearer header (RFC 6750 section
// 2.1) or as WoTKit's access_token parameter (section 2.3).
func TestBearer_MeByHeaderAndQuery(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	a, _ := env.app("alice", "Dashboard", false)
	cases := []struct {
		scope storage.Scope
		want  string
	}{
		{storage.ScopeRead, `"permissions":"read-only","scope":"read"`},
		{storage.ScopeWrite, `"permissions":"write-only","scope":"write"`},
		{storage.ScopeAll, `"permissions":"read-write","scope":"read write"`},
	}
	for _, tc := range cases {
		t.Run(tc.scope.String(), func(t *testing.T) {
			if err := env.store.RevokeGrant("bobby", a.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
			token := wotkittest.Token(t, env.store, "bobby", a.ClientID, tc.scope, time.Hour)
			want := `{"admin":false,"client_id":"` + a.ClientID + `",` + tc.want + `,"user":"bobby","via":"token"}`
			for how, res := range map[string]func() (*http.Response, string){
				"header":          func() (*http.Response, string) { return env.apiWith("GET", "/api/v1/me", "Bearer "+token, "") },
				"lower-case":      func() (*http.Response, string) { return env.apiWith("GET", "/api/v1/me", "bearer "+token, "") },
				"query parameter": func() (*http.Response, string) { return env.apiWith("GET", "/api/v1/me?access_token="+token, "", "") },
			} {
				if res, body := res(); res.StatusCode != 200 || strings.TrimSpace(body) != want {
					t.Errorf("%s: %d %s, want %s", how, res.StatusCode, body, want)
				}
			}
		})
	}
}

// TestBearer_UseTouchesGrant: a token's use shows as the grant's last use.
func TestBearer_UseTouchesGrant(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	a, _ := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Hour)
	if g, _ := env.store.GrantOf("alice", a.ClientID); !g.LastUsed.IsZero() {
		t.Fatal("used before use")
	}
	env.apiWith("GET", "/api/v1/me", "Bearer "+token, "")
	if g, _ := env.store.GrantOf("alice", a.ClientID); time.Since(g.LastUsed) > time.Minute {
		t.Errorf("last used %v", g.LastUsed)
	}
}

// TestBearer_BadTokensRefused: expired, unknown, revoked and malformed tokens
// get 401 with a message that says which, Basic's challenge first and a
// Bearer challenge with invalid_token (RFC 6750 section 3.1); no token at all
// gets the Bearer challenge without an error code.
func TestBearer_BadTokensRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	a, _ := env.app("alice", "Dashboard", false)
	expired := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Millisecond)
	revoked := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Hour)
	if err := env.store.RevokeToken(a.ClientID, revoked); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	invalid := []string{`Basic realm="wotkit"`, `Bearer realm="wotkit", error="invalid_token"`}
	cases := []struct {
		name, path, auth, says string
		challenges             []string
	}{
		{"expired", "/api/v1/me", "Bearer " + expired, "the access token has expired", invalid},
		{"expired in query", "/api/v1/me?access_token=" + expired, "", "the access token has expired", invalid},
		{"unknown", "/api/v1/me", "Bearer " + storage.NewSecret(storage.PrefixAccessToken), "bad access token", invalid},
		{"revoked", "/api/v1/me", "Bearer " + revoked, "bad access token", invalid},
		{"empty", "/api/v1/me", "Bearer ", "malformed Bearer credentials", invalid},
		{"none", "/api/v1/me", "", "authentication required", []string{`Basic realm="wotkit"`, `Bearer realm="wotkit"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := env.apiWith("GET", tc.path, tc.auth, "")
			e := decode[apiErrorBody](t, body)
			if res.StatusCode != 401 || e.Error.Status != 401 || e.Error.Message != tc.says {
				t.Fatalf("%d %s, want 401 saying %q", res.StatusCode, body, tc.says)
			}
			if got := res.Header.Values("WWW-Authenticate"); strings.Join(got, "|") != strings.Join(tc.challenges, "|") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenges)
			}
		})
	}
}

// TestBearer_OneTokenPerRequest: a token in the header and the query both is
// refused (RFC 6750 section 2: one method per request), as is an empty one.
func TestBearer_OneTokenPerRequest(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	a, _ := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Hour)
	for path, auth := range map[string]string{
		"/api/v1/me?access_token=" + token: "Bearer " + token,
		"/api/v1/me?access_token=":         "",
	} {
		if res, body := env.apiWith("GET", path, auth, ""); res.StatusCode != 400 || !contains(body, `"status":400`) {
			t.Errorf("%s: %d %s, want 400", path, res.StatusCode, body)
		}
	}
}

// TestBearer_NeverManagesCredentials: like a key, a token of any scope gets
// 403 on keys, on registering or deleting applications and on grants.
func TestBearer_NeverManagesCredentials(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	a, _ := env.app("alice", "Dashboard", false)
	keyID, _ := env.key("alice", "weather")
	token := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Hour)
	cases := []struct{ method, path, body string }{
		{"GET", "/api/v1/keys", ""},
		{"POST", "/api/v1/keys", `{"name":"sneaky"}`},
		{"GET", "/api/v1/keys/" + keyID, ""},
		{"DELETE", "/api/v1/keys/" + keyID, ""},
		{"POST", "/api/v1/apps", `{"name":"sneaky","redirect_uris":["https://a.example/cb"]}`},
		{"DELETE", "/api/v1/apps/" + a.ClientID, ""},
		{"GET", "/api/v1/grants", ""},
		{"DELETE", "/api/v1/grants/" + a.ClientID, ""},
	}
	for _, tc := range cases {
		for how, path := range map[string]string{"header": tc.path, "query": tc.path + "?access_token=" + token} {
			auth := ""
			if how == "header" {
				auth = "Bearer " + token
			}
			res, body := env.apiWith(tc.method, path, auth, tc.body)
			if res.StatusCode != 403 || !contains(body, "this needs the user's own password") {
				t.Errorf("%s %s by %s: %d %s", tc.method, tc.path, how, res.StatusCode, body)
			}
		}
	}
	if keys, _ := env.store.KeysOf("alice"); len(keys) != 1 {
		t.Errorf("%d keys", len(keys))
	}
	if _, err := env.store.GrantOf("alice", a.ClientID); err != nil {
		t.Errorf("grant: %v", err)
	}
}
