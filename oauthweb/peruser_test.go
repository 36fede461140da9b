package oauthweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wotkit/wotkit/storage"
)

// TestPerUser_LimitIs403SayingWhy: past the per-user limit a new key,
// application or sensor is refused with 403 and the reason, in the API's
// error document and on the portal's form, and nothing is made.
func TestPerUser_LimitIs403SayingWhy(t *testing.T) {
	env := newTestEnvWith(t, storage.Options{MaxPerUser: 2})
	env.user("alice", "alice-password")
	b := env.browser("127.0.0.1")
	b.login("alice", "alice-password")
	kinds := []struct {
		what, api, body, page, action string
		form                          url.Values
		count                         func() int
	}{
		{"keys", "/api/v1/keys", `{"name":"gateway"}`, "/keys/new", "/keys", url.Values{"name": {"gateway"}, "permissions": {"read-write"}},
			func() int { ks, _ := env.store.KeysOf("alice"); return len(ks) }},
		{"applications", "/api/v1/apps", `{"name":"dash","redirect_uris":["https://dash.example/cb"]}`, "/apps/new", "/apps",
			url.Values{"name": {"dash"}, "redirect_uris": {"https://dash.example/cb"}},
			func() int { as, _ := env.store.Apps(); return len(as) }},
		{"sensors", "/api/v1/sensors", `{"name":"weather1"}`, "/sensors/new", "/sensors", url.Values{"name": {"weather3"}},
			func() int { ss, _ := env.store.Sensors(); return len(ss) }},
	}
	for _, k := range kinds {
		t.Run(k.what, func(t *testing.T) {
			for i := range 2 {
				body := strings.Replace(k.body, "weather1", "weather"+string(rune('a'+i)), 1)
				if res, out := env.apiCall("POST", k.api, "alice", "alice-password", body); res.StatusCode != http.StatusCreated {
					t.Fatalf("%s %d of 2: %d %s", k.what, i+1, res.StatusCode, out)
				}
			}
			says := "may have at most 2 " + k.what + ", and alice has 2"
			res, out := env.apiCall("POST", k.api, "alice", "alice-password", k.body)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(out, "limit reached") || !strings.Contains(out, says) {
				t.Fatalf("API, past the limit: %d %s, want 403 saying %q", res.StatusCode, out, says)
			}
			res, out = b.submit(k.page, k.action, k.form)
			if res.StatusCode != http.StatusForbidden || !strings.Contains(out, `class="alert"`) || !strings.Contains(out, says) {
				t.Fatalf("form, past the limit: %d, want 403 saying %q", res.StatusCode, says)
			}
			if n := k.count(); n != 2 {
				t.Fatalf("alice has %d %s, want 2", n, k.what)
			}
		})
	}
}
