package oauthweb

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// TestAuthorized_ListsWhatTheUserGranted: the page shows the user's grants
// only, with application, scopes, when granted and when last used.
func TestAuthorized_ListsWhatTheUserGranted(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	dash, _ := env.app("alice", "Dashboard", false)
	logger, _ := env.app("alice", "Logger", false)
	used := wotkittest.Token(t, env.store, "bobby", dash.ClientID, storage.ScopeRead, time.Hour)
	wotkittest.Token(t, env.store, "bobby", logger.ClientID, storage.ScopeAll, time.Hour)
	wotkittest.Token(t, env.store, "alice", logger.ClientID, storage.ScopeWrite, time.Hour)
	if res, _ := env.apiWith("GET", "/api/v1/me", "Bearer "+used, ""); res.StatusCode != 200 {
		t.Fatalf("token use: %d", res.StatusCode)
	}
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	res, body := bob.get("/authorized")
	if res.StatusCode != 200 {
		t.Fatalf("%d", res.StatusCode)
	}
	for _, want := range []string{"Dashboard", "Logger", `scope-read">read<`, `scope-write">write<`, "UTC",
		`action="/authorized/` + dash.ClientID + `/revoke"`, `action="/authorized/` + logger.ClientID + `/revoke"`} {
		if !contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !contains(body, "<td>never</td>") {
		t.Error("the unused grant should say it was never used")
	}
	grants, _ := env.store.GrantsOf("bobby")
	if len(grants) != 2 || grants[0].LastUsed.IsZero() == grants[1].LastUsed.IsZero() {
		t.Errorf("exactly one grant should have been used: %+v", grants)
	}
	if _, body := env.browser("127.0.0.1").get("/authorized"); contains(body, "Dashboard") {
		t.Error("an anonymous browser sees grants")
	}
}

// TestAuthorized_RevokeRemovesGrantAndTokens: the Revoke button deletes the
// grant and its tokens, announces it, and a second revoke is 404.
func TestAuthorized_RevokeRemovesGrantAndTokens(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	a, _ := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "bobby", a.ClientID, storage.ScopeAll, time.Hour)
	others := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeAll, time.Hour)
	revoked := watchEvents(t, env.store, storage.GrantRevoked)
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	res, _ := bob.submit("/authorized", "/authorized/"+a.ClientID+"/revoke", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/authorized?revoked=1" {
		t.Fatalf("revoke: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := env.store.GrantOf("bobby", a.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("grant after revoke: %v", err)
	}
	if _, err := env.store.AuthenticateToken(token); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("token after revoke: %v", err)
	}
	if _, err := env.store.AuthenticateToken(others); err != nil {
		t.Errorf("another user's token of the same app: %v", err)
	}
	if got := revoked(); len(got) != 1 || got[0].User != "bobby" || got[0].ClientID != a.ClientID {
		t.Errorf("GrantRevoked events %+v", got)
	}
	if _, body := bob.get("/authorized?revoked=1"); !contains(body, "Access was revoked") || contains(body, "Dashboard") {
		t.Error("the page after revoke")
	}
	if res, _ := bob.submit("/authorized", "/authorized/"+a.ClientID+"/revoke", url.Values{}); res.StatusCode != 404 {
		t.Errorf("second revoke: %d, want 404", res.StatusCode)
	}
}

// TestAPI_Grants: the user's grants with their own password only; DELETE
// revokes the grant and its tokens (204), then 404.
func TestAPI_Grants(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	a, _ := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "bobby", a.ClientID, storage.ScopeRead, time.Hour)
	keyID, keyPW := env.key("bobby", "weather")

	res, body := env.apiCall("GET", "/api/v1/grants", "bobby", "bobby-password", "")
	list := decode[[]map[string]any](t, body)
	if res.StatusCode != 200 || len(list) != 1 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	g := list[0]
	if g["client_id"] != a.ClientID || g["name"] != "Dashboard" || g["scope"] != "read" || g["created"] == nil || g["last_used"] != nil || len(g) != 5 {
		t.Errorf("grant %s", body)
	}
	if _, body := env.apiCall("GET", "/api/v1/grants", "alice", "alice-password", ""); body != "[]\n" {
		t.Errorf("alice's grants: %q", body)
	}
	for name, auth := range map[string]string{"token": "Bearer " + token, "key": basicAuth(keyID, keyPW)} {
		for _, method := range []string{"GET", "DELETE"} {
			path := "/api/v1/grants"
			if method == "DELETE" {
				path += "/" + a.ClientID
			}
			if res, body := env.apiWith(method, path, auth, ""); res.StatusCode != 403 || !contains(body, `"status":403`) {
				t.Errorf("%s %s with a %s: %d %s", method, path, name, res.StatusCode, body)
			}
		}
	}
	if res, _ := env.apiCall("GET", "/api/v1/grants", "", "", ""); res.StatusCode != 401 {
		t.Errorf("no credentials: %d", res.StatusCode)
	}
	if res, body := env.apiCall("DELETE", "/api/v1/grants/"+a.ClientID, "alice", "alice-password", ""); res.StatusCode != 404 || !contains(body, "no such grant") {
		t.Errorf("alice revokes bob's grant: %d %s", res.StatusCode, body)
	}
	if res, body := env.apiCall("DELETE", "/api/v1/grants/"+a.ClientID, "bobby", "bobby-password", ""); res.StatusCode != 204 || body != "" {
		t.Fatalf("revoke: %d %s", res.StatusCode, body)
	}
	if _, err := env.store.AuthenticateToken(token); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("token after revoke: %v", err)
	}
	if res, _ := env.apiWith("GET", "/api/v1/me", "Bearer "+token, ""); res.StatusCode != 401 {
		t.Errorf("token on the API after revoke: %d", res.StatusCode)
	}
	if res, _ := env.apiCall("DELETE", "/api/v1/grants/"+a.ClientID, "bobby", "bobby-password", ""); res.StatusCode != 404 {
		t.Errorf("second revoke: %d, want 404", res.StatusCode)
	}
}
