package oauthweb

import (
	"net/http"
	"strings"
	"testing"
)

// TestSecurityHeaders_OnEveryResponse checks each header on pages, API answers,
// errors (404, 401, 405) and static files.
func TestSecurityHeaders_OnEveryResponse(t *testing.T) {
	env := newTestEnv(t)
	env.user("alice", "alice-password")
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
	}
	cases := []struct {
		name, method, path, user string
		status                   int
	}{
		{"login page", "GET", "/login", "", 200},
		{"sign-up page", "GET", "/signup", "", 200},
		{"API answer", "GET", "/api/v1/me", "alice", 200},
		{"API 401", "GET", "/api/v1/keys", "", 401},
		{"API 404", "GET", "/api/v1/nothing", "", 404},
		{"page 404", "GET", "/no/such/page", "", 404},
		{"405", "PUT", "/login", "", 405},
		{"static file", "GET", staticURL("style.css"), "", 200},
		{"redirect", "GET", "/keys", "", 303},
	}
	b := env.browser("127.0.0.1")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res *http.Response
			if tc.user != "" {
				res, _ = env.apiCall(tc.method, tc.path, tc.user, "alice-password", "")
			} else {
				req, _ := http.NewRequest(tc.method, env.srv.URL+tc.path, nil)
				res, _ = b.do(req)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			for h, v := range want {
				if got := res.Header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
		})
	}
}

func TestStatic_CachedAndTyped(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser("127.0.0.1")
	res, body := b.get(staticURL("copy.js"))
	if res.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("copy.js: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q", cc)
	}
	if res, _ := b.get("/static/"); res.StatusCode != 404 {
		t.Errorf("directory listing: %d, want 404", res.StatusCode)
	}
	if res, _ := b.get("/static/../portal.go"); res.StatusCode != 404 {
		t.Errorf("path outside static: %d, want 404", res.StatusCode)
	}
}

// TestPages_NoInlineScriptOrExternalResource: the CSP allows neither, so a page
// that used them would break.
func TestPages_NoInlineScriptOrExternalResource(t *testing.T) {
	env := newTestEnv(t)
	b := env.browser("127.0.0.1")
	for _, path := range []string{"/login", "/signup", "/no-such"} {
		_, body := b.get(path)
		for _, bad := range []string{"<script>", "style=", "http://", "https://", "onclick"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
	}
}
