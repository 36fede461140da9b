package oauthweb

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wotkit/wotkit/internal/wotkittest"
	"github.com/wotkit/wotkit/storage"
)

// One credential per request (RFC 6750 section 2): HTTP Basic with an
// access_token parameter beside it is refused, not answered as the Basic
// user while the token is ignored.
func TestAPI_BasicAndAccessTokenBothRefused(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	if res, body := env.apiWith("GET", "/api/v1/me?access_token=wka_not-a-token", basicAuth("alice", "alice-password"), ""); res.StatusCode != 400 {
		t.Fatalf("Basic and access_token: %d %s, want 400", res.StatusCode, body)
	}
}

// A body past the 64 KiB limit is 413, however it began: a small JSON object
// followed by padding too.
func TestAPI_OversizedBodyIs413(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	for name, body := range map[string]string{
		"one large object":          `{"name":"weather","description":"` + strings.Repeat("x", 70<<10) + `"}`,
		"small object, then filler": `{"name":"weather"}` + strings.Repeat(" ", 70<<10),
	} {
		if res, got := env.apiCall("POST", "/api/v1/sensors", "alice", "alice-password", body); res.StatusCode != 413 {
			t.Errorf("%s: %d %.200s, want 413", name, res.StatusCode, got)
		}
	}
}

// A sensor search takes at most 32 distinct tags: each is matched against
// every sensor, so a longer list would buy a caller CPU time by the byte.
func TestAPI_SensorSearchTagsBounded(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	tags := func(n, distinct int) string {
		t := make([]string, n)
		for i := range t {
			t[i] = fmt.Sprintf("t%d", i%distinct)
		}
		return url.QueryEscape(strings.Join(t, ","))
	}
	if res, body := env.apiCall("GET", "/api/v1/sensors?tags="+tags(33, 33), "alice", "alice-password", ""); res.StatusCode != 400 || !contains(body, "at most 32 tags") {
		t.Errorf("33 tags: %d %s, want 400 saying at most 32", res.StatusCode, body)
	}
	if res, body := env.apiCall("GET", "/api/v1/sensors?tags="+tags(3000, 32), "alice", "alice-password", ""); res.StatusCode != 200 {
		t.Errorf("32 tags, each many times: %d %s, want 200", res.StatusCode, body)
	}
}

// wotkit accepts WoTKit's access_token parameter but never sends it on: a
// page asked for with one, by a browser without a session, is sent to the
// login page without the token in the address it comes back to (a portal
// page and the authorization endpoint alike).
func TestPages_AccessTokenNeverSentOn(t *testing.T) {
	w := newOAuthWorld(t, false)
	token := wotkittest.Token(t, w.env.store, "alice", w.app.ClientID, storage.ScopeAll, time.Hour)
	authorize := w.authPath("s")
	for _, page := range []string{"/keys?x=1", authorize} {
		t.Run(strings.SplitN(page, "?", 2)[0], func(t *testing.T) {
			res, _ := w.env.browser("127.0.0.1").get(page + "&access_token=" + token)
			loc := res.Header.Get("Location")
			if res.StatusCode != 303 || !strings.HasPrefix(loc, "/login?next=") {
				t.Fatalf("GET %s without a session: %d %q, want 303 to the login page", page, res.StatusCode, loc)
			}
			if strings.Contains(loc, token) || strings.Contains(loc, "access_token") {
				t.Errorf("the login redirect carries the token: %q", loc)
			}
			next, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/login?next="))
			if want, _ := url.Parse(page); next != want.RequestURI() {
				t.Errorf("next = %q, want %q", next, want.RequestURI())
			}
		})
	}
}
