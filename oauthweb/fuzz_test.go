package oauthweb

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wotkit/wotkit/storage"
)

// FuzzAuthorizeRequest: whatever the query, parsing an authorization request
// never panics, and a request it lets through (to consent or to a redirect
// with an error) names a redirect URI registered for its client.
func FuzzAuthorizeRequest(f *testing.F) {
	env := newTestEnv(f)
	env.user("bob1", "bob1 password")
	app, _, err := env.store.CreateApp("bob1", storage.NewApp{Name: "a", RedirectURIs: []string{"https://a.example/cb", "http://127.0.0.1:9/cb"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{
		"response_type=code&client_id=" + app.ClientID + "&redirect_uri=https%3A%2F%2Fa.example%2Fcb",
		"response_type=token&client_id=" + app.ClientID + "&redirect_uri=https%3A%2F%2Fa.example%2Fcb.evil",
		"client_id=" + app.ClientID + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge=x&code_challenge_method=plain",
		"client_id=" + app.ClientID + "&client_id=x", "%zz", "redirect_uri=javascript:alert(1)",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, oerr, page := env.portal.oauth.parseAuthorize(q)
		if page != "" {
			return
		}
		if !slices.Contains(req.App.RedirectURIs, req.RedirectURI) {
			t.Fatalf("query %q passes with redirect URI %q, not registered", raw, req.RedirectURI)
		}
		if oerr == nil && (req.Scope == 0 || (req.Challenge == "" && req.App.Public)) {
			t.Fatalf("query %q accepted without a scope or a required challenge", raw)
		}
	})
}

// FuzzTokenEndpoint: any form, with any Basic credentials, gets an RFC 6749
// answer: 200 with a token only for a real code, otherwise a JSON error
// with the status the RFC gives it, never a 500.
func FuzzTokenEndpoint(f *testing.F) {
	env := newTestEnv(f)
	env.user("bob1", "bob1 password")
	app, secret, err := env.store.CreateApp("bob1", storage.NewApp{Name: "a", RedirectURIs: []string{"https://a.example/cb"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("grant_type=authorization_code&code=wkc_x&redirect_uri=https%3A%2F%2Fa.example%2Fcb", app.ClientID, secret)
	f.Add("grant_type=refresh_token&refresh_token=wkr_x&scope=all", app.ClientID, secret)
	f.Add("grant_type=password&username=a&password=b", app.ClientID, secret)
	f.Add("grant_type=client_credentials", "", "")
	f.Add("grant_type=authorization_code&code=a&code=b", app.ClientID+"%", secret)
	f.Fuzz(func(t *testing.T, form, id, pw string) {
		req := httptest.NewRequest(http.MethodPost, "/api/oauth/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, pw)
		}
		rec := httptest.NewRecorder()
		env.portal.ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("form %q: answer is not JSON: %q", form, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
			t.Fatalf("form %q got a token without a real code", form)
		case http.StatusBadRequest, http.StatusUnauthorized:
			if body["error"] == nil {
				t.Fatalf("form %q: %d without an error name", form, rec.Code)
			}
		default:
			t.Fatalf("form %q: status %d (%v)", form, rec.Code, body)
		}
	})
}

// FuzzAPICredentials: any Authorization header or access_token parameter on
// /api/v1/me gets 200 only with a real credential, else 401/400/429, never 500.
func FuzzAPICredentials(f *testing.F) {
	env := newTestEnv(f)
	env.user("alice", "alice password")
	f.Add("Basic YWxpY2U6YWxpY2UgcGFzc3dvcmQ=", "")
	f.Add("Bearer wka_x", "")
	f.Add("", "wka_x")
	f.Add("Basic !!!", "")
	f.Add("bearer ", "%00")
	f.Fuzz(func(t *testing.T, header, query string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/me?access_token="+url.QueryEscape(query), nil)
		if query == "" {
			req = httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		}
		req.RemoteAddr = "192.0.2.1:1234" // off the throttle of other tests' loopback
		if header != "" {
			req.Header["Authorization"] = []string{header}
		}
		rec := httptest.NewRecorder()
		env.portal.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if header != "Basic YWxpY2U6YWxpY2UgcGFzc3dvcmQ=" {
				t.Fatalf("header %q query %q authenticated", header, query)
			}
		case http.StatusUnauthorized, http.StatusBadRequest, http.StatusTooManyRequests:
		default:
			t.Fatalf("header %q query %q: %d %s", header, query, rec.Code, rec.Body.String())
		}
	})
}
