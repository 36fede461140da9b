package oauthweb

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPI_Me(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	id, pw := env.key("alice", "weather")
	cases := []struct{ user, password, want string }{
		{"alice", "alice-password", `{"admin":false,"permissions":"read-write","user":"alice","via":"user"}`},
		{id, pw, `{"admin":false,"permissions":"read-write","user":"alice","via":"key"}`},
	}
	for _, tc := range cases {
		res, body := env.apiCall("GET", "/api/v1/me", tc.user, tc.password, "")
		if res.StatusCode != 200 || strings.TrimSpace(body) != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.user, res.StatusCode, body, tc.want)
		}
	}
}

// TestAPI_KeysMatrix: keys are managed with the user's own password only; a
// key gets 403, bad or missing credentials 401 with WWW-Authenticate, and
// another user's key is 404.
func TestAPI_KeysMatrix(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.user("bobby", "bobby-password")
	aliceKey, aliceKeyPW := env.key("alice", "weather")
	bobKey, _ := env.key("bobby", "bobs")
	type cred struct{ user, password string }
	var (
		own     = cred{"alice", "alice-password"}
		key     = cred{aliceKey, aliceKeyPW}
		wrong   = cred{"alice", "not-her-password"}
		badKey  = cred{aliceKey, "wkp_nope"}
		nobody  = cred{"", ""}
		unknown = cred{"KNOSUCHKEY", "x"}
	)
	body := `{"name":"new","description":"d","permissions":"read-only"}`
	cases := []struct {
		name         string
		c            cred
		method, path string
		body         string
		status       int
	}{
		{"own password lists", own, "GET", "/api/v1/keys", "", 200},
		{"own password creates", own, "POST", "/api/v1/keys", body, 201},
		{"own password gets", own, "GET", "/api/v1/keys/" + aliceKey, "", 200},
		{"another user's key is not found", own, "GET", "/api/v1/keys/" + bobKey, "", 404},
		{"another user's key cannot be deleted", own, "DELETE", "/api/v1/keys/" + bobKey, "", 404},
		{"missing key", own, "GET", "/api/v1/keys/KNOSUCHKEY", "", 404},
		{"key lists", key, "GET", "/api/v1/keys", "", 403},
		{"key creates", key, "POST", "/api/v1/keys", body, 403},
		{"key gets", key, "GET", "/api/v1/keys/" + aliceKey, "", 403},
		{"key deletes", key, "DELETE", "/api/v1/keys/" + aliceKey, "", 403},
		{"wrong password", wrong, "GET", "/api/v1/keys", "", 401},
		{"wrong key password", badKey, "GET", "/api/v1/me", "", 401},
		{"unknown key", unknown, "GET", "/api/v1/me", "", 401},
		{"no credentials", nobody, "GET", "/api/v1/keys", "", 401},
		{"no credentials for me", nobody, "GET", "/api/v1/me", "", 401},
		{"own password deletes", own, "DELETE", "/api/v1/keys/" + aliceKey, "", 204},
		{"deleted key is gone", own, "GET", "/api/v1/keys/" + aliceKey, "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, got := env.apiCall(tc.method, tc.path, tc.c.user, tc.c.password, tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, got, tc.status)
			}
			if tc.status == 401 && res.Header.Get("WWW-Authenticate") != `Basic realm="wotkit"` {
				t.Errorf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
			if tc.status >= 400 {
				e := decode[apiErrorBody](t, got)
				if e.Error.Status != tc.status || e.Error.Message == "" || e.Error.DeveloperMessage == nil {
					t.Errorf("error body %s", got)
				}
			}
		})
	}
	if _, err := env.store.Key(bobKey); err != nil {
		t.Fatalf("bob's key: %v", err)
	}
}

// TestAPI_CreateKeyShowsPasswordOnce: 201 with the key and key_password; a
// GET afterwards has no password.
func TestAPI_CreateKeyShowsPasswordOnce(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	res, body := env.apiCall("POST", "/api/v1/keys", "alice", "alice-password", `{"name":"weather","description":"roof","permissions":"read-only"}`)
	if res.StatusCode != 201 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	created := decode[map[string]any](t, body)
	for _, f := range []string{"key_id", "name", "description", "permissions", "created", "last_used", "key_password"} {
		if _, ok := created[f]; !ok {
			t.Errorf("no %q in %s", f, body)
		}
	}
	if created["permissions"] != "read-only" || created["last_used"] != nil || len(created) != 7 {
		t.Errorf("created %s", body)
	}
	id, pw := created["key_id"].(string), created["key_password"].(string)
	if res.Header.Get("Location") != "/api/v1/keys/"+id {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	if res, _ := env.apiCall("GET", "/api/v1/me", id, pw, ""); res.StatusCode != 200 {
		t.Fatalf("the new key does not authenticate: %d", res.StatusCode)
	}
	_, body = env.apiCall("GET", "/api/v1/keys/"+id, "alice", "alice-password", "")
	if strings.Contains(body, pw) || strings.Contains(body, "key_password") {
		t.Errorf("GET shows the password: %s", body)
	}
	got := decode[apiKey](t, body)
	if got.LastUsed == nil || time.Since(*got.LastUsed) > time.Minute {
		t.Errorf("last_used after use: %v", got.LastUsed)
	}
	_, body = env.apiCall("GET", "/api/v1/keys", "alice", "alice-password", "")
	if list := decode[[]apiKey](t, body); len(list) != 1 || list[0].KeyID != id {
		t.Errorf("list %s", body)
	}
}

// TestAPI_ErrorBodyExactly: WoTKit's error document, field for field.
func TestAPI_ErrorBodyExactly(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	cases := []struct {
		method, path, user, body, want string
	}{
		{"GET", "/api/v1/keys/KNOSUCHKEY", "alice", "",
			`{"error":{"status":404,"code":0,"message":"no such key","developerMessage":["no key with id KNOSUCHKEY belongs to you"]}}`},
		{"GET", "/api/v1/keys", "", "",
			`{"error":{"status":401,"code":0,"message":"authentication required","developerMessage":["use HTTP Basic with your user name and password or with a key id and key password, or an OAuth2 access token as a Bearer token"]}}`},
		{"GET", "/api/v1/nothing", "", "",
			`{"error":{"status":404,"code":0,"message":"not found","developerMessage":[]}}`},
		{"POST", "/api/v1/keys", "alice", `{"name":"x","colour":"red"}`,
			`{"error":{"status":400,"code":0,"message":"bad JSON","developerMessage":["unknown field \"colour\""]}}`},
	}
	for _, tc := range cases {
		res, body := env.apiCall(tc.method, tc.path, tc.user, "alice-password", tc.body)
		if strings.TrimSpace(body) != tc.want {
			t.Errorf("%s %s: %d\n got %s\nwant %s", tc.method, tc.path, res.StatusCode, body, tc.want)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

func TestAPI_BadJSON(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	cases := []struct{ name, body, says string }{
		{"syntax", `{"name": }`, "malformed JSON"},
		{"unknown field", `{"name":"x","owner":"bobby"}`, `unknown field \"owner\"`},
		{"wrong type", `{"name": 7}`, `field \"name\" must be a string`},
		{"not an object", `[1,2]`, "must be a JSON object"},
		{"two documents", `{"name":"a"}{"name":"b"}`, "exactly one JSON object"},
		{"truncated", `{"name":"a"`, "ends too early"},
		{"no name", `{"description":"x"}`, "a key needs a name"},
		{"blank name", `{"name":" \t "}`, "a key needs a name"},
		{"line break in name", `{"name":"gateway\nroof"}`, "must not contain control characters"},
		{"direction override in name", `{"name":"gateway\u202egnp.exe"}`, "must not contain control characters"},
		{"bad permissions", `{"name":"x","permissions":"all"}`, "permissions must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := env.apiCall("POST", "/api/v1/keys", "alice", "alice-password", tc.body)
			if res.StatusCode != 400 || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %s, want 400 saying %s", res.StatusCode, body, tc.says)
			}
		})
	}
	req, _ := http.NewRequest("POST", env.srv.URL+"/api/v1/keys", strings.NewReader(`{"name":"x"}`))
	req.SetBasicAuth("alice", "alice-password")
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: %d, want 415", res.StatusCode)
	}
	if keys, _ := env.store.KeysOf("alice"); len(keys) != 0 {
		t.Fatalf("bad requests made %d keys", len(keys))
	}
}

// TestAPI_InternalErrorTellsNothing: with the store closed under it, the API
// answers 500 in WoTKit's shape without the cause.
func TestAPI_InternalErrorTellsNothing(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	env.closeStore()
	res, body := env.apiCall("GET", "/api/v1/keys", "alice", "alice-password", "")
	if res.StatusCode != 500 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	want := `{"error":{"status":500,"code":0,"message":"internal server error","developerMessage":["the server could not complete the request; the cause is in its log"]}}`
	if strings.TrimSpace(body) != want {
		t.Fatalf("got %s", body)
	}
	b := env.browser("127.0.0.1")
	b.c.Jar.SetCookies(mustURL(env.srv.URL), []*http.Cookie{{Name: sessionCookie, Value: "wkw_x"}})
	res, page := b.get("/keys")
	if res.StatusCode != 500 {
		t.Errorf("page: %d, want 500", res.StatusCode)
	}
	if strings.Contains(strings.ToLower(page), "database") || strings.Contains(page, "bolt") {
		t.Fatalf("page leaks the cause")
	}
}
