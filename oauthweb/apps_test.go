package oauthweb

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

var (
	clientIDInPage     = regexp.MustCompile(`id="client-id">(C[A-Z2-7]+)<`)
	clientSecretInPage = regexp.MustCompile(`id="client-secret">(wks_[A-Za-z0-9_-]+)<`)
)

// app registers an application directly in the store and returns it with its
// client secret (empty for a public client).
func (env *testEnv) app(owner, name string, public bool) (storage.App, string) {
	env.t.Helper()
	a, secret, err := env.store.CreateApp(owner, storage.NewApp{Name: name, Description: "charts of " + owner,
		RedirectURIs: []string{"https://dash.example.com/cb"}, Public: public})
	if err != nil {
		env.t.Fatal(err)
	}
	return a, secret
}

// admin creates an administrator directly in the store.
func (env *testEnv) admin(name, password string) {
	env.t.Helper()
	if _, err := env.store.CreateUser(storage.NewUser{Name: name, Password: password, Admin: true}); err != nil {
		env.t.Fatal(err)
	}
}

// TestAppSecret_ShownOnce: the page after registration shows the client id,
// the secret and the endpoints, is not cacheable, and no later page shows the
// secret again.
func TestAppSecret_ShownOnce(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body := b.submit("/apps/new", "/apps", url.Values{"name": {"Dashboard"}, "description": {"energy charts"},
		"redirect_uris": {"https://dash.example.com/cb\r\n\r\n  http://127.0.0.1:8000/cb  \r\n"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", res.StatusCode)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	id, secret := clientIDInPage.FindStringSubmatch(body), clientSecretInPage.FindStringSubmatch(body)
	if id == nil || secret == nil {
		t.Fatalf("no client id or secret in the page")
	}
	for _, want := range []string{"http://wotkit.example:8080/api/oauth/authorize", "http://wotkit.example:8080/api/oauth/token",
		"wotkit.example:1883", `data-copy="client-secret"`, "shown only this once"} {
		if !contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	a, err := env.store.AuthenticateClient(id[1], secret[1])
	if err != nil {
		t.Fatalf("the secret shown does not work: %v", err)
	}
	if a.Owner != "alice" || a.Public || a.Description != "energy charts" ||
		strings.Join(a.RedirectURIs, " ") != "https://dash.example.com/cb http://127.0.0.1:8000/cb" {
		t.Errorf("registered %+v", a)
	}
	for _, path := range []string{"/apps", "/apps/" + id[1], "/apps/" + id[1] + "/reset-secret", "/apps/" + id[1] + "/delete"} {
		res, body := b.get(path)
		if res.StatusCode != 200 || contains(body, secret[1]) {
			t.Errorf("%s: %d, shows the secret: %v", path, res.StatusCode, contains(body, secret[1]))
		}
	}
}

// TestAppNew_PublicClientHasNoSecret: the checkbox registers a public client,
// which authenticates with no secret and has none to reset.
func TestAppNew_PublicClientHasNoSecret(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body := b.submit("/apps/new", "/apps", url.Values{"name": {"Phone"}, "redirect_uris": {"com.example.phone:/cb"}, "public": {"1"}})
	id := clientIDInPage.FindStringSubmatch(body)
	if res.StatusCode != 200 || id == nil || contains(body, "wks_") || !contains(body, "PKCE") {
		t.Fatalf("create: %d, client id %v", res.StatusCode, id)
	}
	if a, err := env.store.AuthenticateClient(id[1], ""); err != nil || !a.Public {
		t.Fatalf("public client: %+v %v", a, err)
	}
	if _, body := b.get("/apps/" + id[1]); contains(body, "reset-secret") || !contains(body, "public") {
		t.Error("a public client's page offers a secret reset")
	}
	if res, _ := b.get("/apps/" + id[1] + "/reset-secret"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("reset page of a public client: %d", res.StatusCode)
	}
}

// TestAppNew_BadInputSaysWhy: the form comes back with the reason and what
// was typed, and nothing is registered.
func TestAppNew_BadInputSaysWhy(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	cases := []struct {
		name string
		form url.Values
		says string
	}{
		{"no name", url.Values{"name": {" "}, "redirect_uris": {"https://a.example/cb"}}, "An application needs a name."},
		{"no redirect URI", url.Values{"name": {"x"}, "redirect_uris": {"\r\n "}}, "An application needs at least one redirect URI."},
		{"plain http", url.Values{"name": {"x"}, "redirect_uris": {"http://evil.example/cb"}}, "http is allowed only for localhost"},
		{"fragment", url.Values{"name": {"x"}, "redirect_uris": {"https://a.example/cb#frag"}}, "must not have a fragment"},
		{"state in query", url.Values{"name": {"x"}, "redirect_uris": {"https://a.example/cb?state=1"}}, "must not carry state"},
		{"query not a form", url.Values{"name": {"x"}, "redirect_uris": {"https://a.example/cb?a=1;b=2"}}, "must be form-encoded"},
		{"relative", url.Values{"name": {"x"}, "redirect_uris": {"/cb"}}, "must be absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := b.submit("/apps/new", "/apps", tc.form)
			if res.StatusCode != http.StatusBadRequest || !contains(body, `class="alert"`) || !contains(body, tc.says) {
				t.Fatalf("%d, want 400 saying %q", res.StatusCode, tc.says)
			}
		})
	}
	if apps, _ := env.store.Apps(); len(apps) != 0 {
		t.Fatalf("bad forms registered %d apps", len(apps))
	}
}

// TestApps_EveryoneSeesEveryApplication: the list is of all applications,
// with their owners; another user may view details but is offered no change.
func TestApps_EveryoneSeesEveryApplication(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	alices, _ := env.app("alice", "Dashboard", false)
	bobs, _ := env.app("bobby", "Logger", true)
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	_, body := bob.get("/apps")
	for _, want := range []string{"Dashboard", "Logger", alices.ClientID, bobs.ClientID, "<td>alice</td>", "<td>bobby</td>"} {
		if !contains(body, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	res, body := bob.get("/apps/" + alices.ClientID)
	for _, want := range []string{alices.ClientID, "Dashboard", "charts of alice", "https://dash.example.com/cb", "alice", "confidential", "UTC"} {
		if !contains(body, want) {
			t.Errorf("details lack %q", want)
		}
	}
	if res.StatusCode != 200 || contains(body, "/reset-secret") || contains(body, "/delete") {
		t.Errorf("another user's view: %d, offers changes", res.StatusCode)
	}
	if res, _ := bob.get("/apps/CNOSUCHAPP"); res.StatusCode != 404 {
		t.Errorf("unknown app: %d", res.StatusCode)
	}
}

// TestAppReset_NewSecretOnceOldOneDead: the reset is a POST behind a
// confirmation; its answer shows the new secret, uncached; the old one fails.
func TestAppReset_NewSecretOnceOldOneDead(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	a, old := env.app("alice", "Dashboard", false)
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	if res, body := b.get("/apps/" + a.ClientID + "/reset-secret"); res.StatusCode != 200 || !contains(body, "Reset the client secret") {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if _, err := env.store.AuthenticateClient(a.ClientID, old); err != nil {
		t.Fatal("the confirmation page reset the secret")
	}
	res, body := b.submit("/apps/"+a.ClientID+"/reset-secret", "/apps/"+a.ClientID+"/reset-secret", url.Values{})
	secret := clientSecretInPage.FindStringSubmatch(body)
	if res.StatusCode != 200 || secret == nil || res.Header.Get("Cache-Control") != "no-store" || !contains(body, "New client secret") {
		t.Fatalf("reset: %d, secret shown %v, Cache-Control %q", res.StatusCode, secret != nil, res.Header.Get("Cache-Control"))
	}
	if _, err := env.store.AuthenticateClient(a.ClientID, old); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("old secret: %v", err)
	}
	if _, err := env.store.AuthenticateClient(a.ClientID, secret[1]); err != nil {
		t.Errorf("new secret: %v", err)
	}
}

// TestAppDelete_RevokesEveryTokenAndGrant: GET confirms and deletes nothing;
// the POST deletes the app, its grants and tokens, and announces it.
func TestAppDelete_RevokesEveryTokenAndGrant(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	a, _ := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "bobby", a.ClientID, storage.ScopeAll, time.Hour)
	deleted := watchEvents(t, env.store, storage.AppDeleted)
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	res, body := b.get("/apps/" + a.ClientID + "/delete")
	if res.StatusCode != 200 || !contains(body, "Delete the application") || !contains(body, "is revoked") || !contains(body, "disconnected") {
		t.Fatalf("confirmation: %d", res.StatusCode)
	}
	if _, err := env.store.App(a.ClientID); err != nil {
		t.Fatal("the confirmation page deleted the app")
	}
	res, _ = b.submit("/apps/"+a.ClientID+"/delete", "/apps/"+a.ClientID+"/delete", url.Values{})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/apps?deleted=1" {
		t.Fatalf("delete: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if _, err := env.store.App(a.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("app after delete: %v", err)
	}
	if _, err := env.store.AuthenticateToken(token); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("token after delete: %v", err)
	}
	if grants, _ := env.store.GrantsOf("bobby"); len(grants) != 0 {
		t.Errorf("grants after delete: %+v", grants)
	}
	if got := deleted(); len(got) != 1 || got[0].ClientID != a.ClientID {
		t.Errorf("AppDeleted events %+v", got)
	}
	if _, body := b.get("/apps?deleted=1"); !contains(body, "was deleted") {
		t.Error("no notice after delete")
	}
}

// TestAppPages_AnotherUserMayViewButNotChange: bob gets 403 on alice's reset
// and delete, pages and forms alike; an administrator may delete it.
func TestAppPages_AnotherUserMayViewButNotChange(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	env.admin("carol", "carol-password")
	a, secret := env.app("alice", "Dashboard", false)
	bob := env.browser("127.0.0.1")
	bob.login("bobby", "bobby-password")
	token := bob.csrf("/apps/new")
	for _, path := range []string{"/apps/" + a.ClientID + "/reset-secret", "/apps/" + a.ClientID + "/delete"} {
		if res, _ := bob.get(path); res.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", path, res.StatusCode)
		}
		if res, body := bob.post(path, url.Values{csrfField: {token}}); res.StatusCode != http.StatusForbidden || contains(body, "wks_") {
			t.Errorf("POST %s: %d, want 403", path, res.StatusCode)
		}
	}
	if _, err := env.store.AuthenticateClient(a.ClientID, secret); err != nil {
		t.Fatalf("alice's app was changed: %v", err)
	}
	admin := env.browser("127.0.0.1")
	admin.login("carol", "carol-password")
	if _, body := admin.get("/apps/" + a.ClientID); !contains(body, "/delete") {
		t.Error("an administrator is offered no delete")
	}
	if res, _ := admin.submit("/apps/"+a.ClientID+"/delete", "/apps/"+a.ClientID+"/delete", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin delete: %d", res.StatusCode)
	}
	if _, err := env.store.App(a.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after admin delete: %v", err)
	}
}

// TestAppForms_CSRFRequired: register, reset, delete and revoke refuse a form
// without the session's token, and change nothing.
func TestAppForms_CSRFRequired(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	a, secret := env.app("alice", "Dashboard", false)
	token := wotkittest.Token(t, env.store, "alice", a.ClientID, storage.ScopeRead, time.Hour)
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	for _, path := range []string{"/apps", "/apps/" + a.ClientID + "/reset-secret", "/apps/" + a.ClientID + "/delete", "/authorized/" + a.ClientID + "/revoke"} {
		res, _ := b.post(path, url.Values{"name": {"sneaky"}, "redirect_uris": {"https://evil.example/cb"}})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without token: %d, want 403", path, res.StatusCode)
		}
	}
	if apps, _ := env.store.Apps(); len(apps) != 1 {
		t.Errorf("%d apps, want 1", len(apps))
	}
	if _, err := env.store.AuthenticateClient(a.ClientID, secret); err != nil {
		t.Errorf("secret changed: %v", err)
	}
	if _, err := env.store.AuthenticateToken(token); err != nil {
		t.Errorf("grant revoked: %v", err)
	}
}

// TestAPI_AppsMatrix: any credential may read the registry; registering and
// deleting need the user's own password; only the owner or an administrator
// may delete; errors come in WoTKit's body.
func TestAPI_AppsMatrix(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	env.admin("carol", "carol-password")
	alices, _ := env.app("alice", "Dashboard", false)
	bobs, _ := env.app("bobby", "Logger", false)
	keyID, keyPW := env.key("alice", "weather")
	bearer := "Bearer " + wotkittest.Token(t, env.store, "alice", bobs.ClientID, storage.ScopeAll, time.Hour)
	var (
		own   = basicAuth("alice", "alice-password")
		key   = basicAuth(keyID, keyPW)
		wrong = basicAuth("alice", "nope-nope-nope")
		carol = basicAuth("carol", "carol-password")
	)
	body := `{"name":"new","redirect_uris":["https://new.example/cb"]}`
	cases := []struct {
		name, auth, method, path, body string
		status                         int
	}{
		{"own password lists", own, "GET", "/api/v1/apps", "", 200},
		{"key lists", key, "GET", "/api/v1/apps", "", 200},
		{"token lists", bearer, "GET", "/api/v1/apps", "", 200},
		{"own password gets", own, "GET", "/api/v1/apps/" + bobs.ClientID, "", 200},
		{"key gets", key, "GET", "/api/v1/apps/" + alices.ClientID, "", 200},
		{"unknown app", own, "GET", "/api/v1/apps/CNOSUCHAPP", "", 404},
		{"own password registers", own, "POST", "/api/v1/apps", body, 201},
		{"key registers", key, "POST", "/api/v1/apps", body, 403},
		{"token registers", bearer, "POST", "/api/v1/apps", body, 403},
		{"bad input", own, "POST", "/api/v1/apps", `{"name":"x","redirect_uris":["http://evil.example/cb"]}`, 400},
		{"another user's app", own, "DELETE", "/api/v1/apps/" + bobs.ClientID, "", 403},
		{"key deletes", key, "DELETE", "/api/v1/apps/" + alices.ClientID, "", 403},
		{"token deletes", bearer, "DELETE", "/api/v1/apps/" + alices.ClientID, "", 403},
		{"wrong password", wrong, "GET", "/api/v1/apps", "", 401},
		{"no credentials", "", "GET", "/api/v1/apps", "", 401},
		{"unknown app deleted", own, "DELETE", "/api/v1/apps/CNOSUCHAPP", "", 404},
		{"owner deletes", own, "DELETE", "/api/v1/apps/" + alices.ClientID, "", 204},
		{"deleted app is gone", own, "GET", "/api/v1/apps/" + alices.ClientID, "", 404},
		{"admin deletes another user's app", carol, "DELETE", "/api/v1/apps/" + bobs.ClientID, "", 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, got := env.apiWith(tc.method, tc.path, tc.auth, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, got, tc.status)
			}
			if tc.status >= 400 {
				e := decode[apiErrorBody](t, got)
				if e.Error.Status != tc.status || e.Error.Message == "" || len(e.Error.DeveloperMessage) == 0 {
					t.Errorf("error body %s", got)
				}
			}
		})
	}
}

// TestAPI_CreateAppShowsSecretOnce: 201 with the application and its
// client_secret; GET and the list never show it; a public client gets none.
func TestAPI_CreateAppShowsSecretOnce(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	res, body := env.apiCall("POST", "/api/v1/apps", "alice", "alice-password",
		`{"name":"Dashboard","description":"charts","redirect_uris":["https://dash.example.com/cb","http://localhost:8000/cb"]}`)
	if res.StatusCode != 201 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	created := decode[map[string]any](t, body)
	for _, f := range []string{"client_id", "name", "description", "redirect_uris", "owner", "public", "created", "client_secret"} {
		if _, ok := created[f]; !ok {
			t.Errorf("no %q in %s", f, body)
		}
	}
	if len(created) != 8 || created["owner"] != "alice" || created["public"] != false {
		t.Errorf("created %s", body)
	}
	id, secret := created["client_id"].(string), created["client_secret"].(string)
	if res.Header.Get("Location") != "/api/v1/apps/"+id {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	if _, err := env.store.AuthenticateClient(id, secret); err != nil {
		t.Fatalf("the secret does not authenticate: %v", err)
	}
	for _, path := range []string{"/api/v1/apps/" + id, "/api/v1/apps"} {
		if _, body := env.apiCall("GET", path, "alice", "alice-password", ""); contains(body, secret) || contains(body, "client_secret") {
			t.Errorf("GET %s shows the secret: %s", path, body)
		}
	}
	_, body = env.apiCall("GET", "/api/v1/apps/"+id, "alice", "alice-password", "")
	if got := decode[apiApp](t, body); got.Name != "Dashboard" || len(got.RedirectURIs) != 2 || got.RedirectURIs[1] != "http://localhost:8000/cb" {
		t.Errorf("GET %s", body)
	}
	_, body = env.apiCall("POST", "/api/v1/apps", "alice", "alice-password", `{"name":"Phone","redirect_uris":["com.example.phone:/cb"],"public":true}`)
	if public := decode[map[string]any](t, body); public["public"] != true || contains(body, "client_secret") {
		t.Errorf("public client: %s", body)
	}
}

// TestAPI_CreateAppBadInput: 400 with the reason in developerMessage.
func TestAPI_CreateAppBadInput(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	cases := []struct{ name, body, says string }{
		{"no name", `{"redirect_uris":["https://a.example/cb"]}`, "an application needs a name"},
		{"no redirect URI", `{"name":"x"}`, "at least one redirect URI"},
		{"plain http", `{"name":"x","redirect_uris":["http://evil.example/cb"]}`, "http is allowed only for localhost"},
		{"string, not list", `{"name":"x","redirect_uris":"https://a.example/cb"}`, `field \"redirect_uris\" must be a []string`},
		{"unknown field", `{"name":"x","owner":"bobby","redirect_uris":["https://a.example/cb"]}`, `unknown field \"owner\"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := env.apiCall("POST", "/api/v1/apps", "alice", "alice-password", tc.body)
			if res.StatusCode != 400 || !contains(body, tc.says) {
				t.Fatalf("%d %s, want 400 saying %s", res.StatusCode, body, tc.says)
			}
		})
	}
	if apps, _ := env.store.Apps(); len(apps) != 0 {
		t.Fatalf("bad requests registered %d apps", len(apps))
	}
}
