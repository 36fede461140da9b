package oauthweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// BenchmarkCodeFlow measures one whole authorization: GET /api/oauth/authorize
// with S256 PKCE for a signed-in user who consented before (303 with a code),
// then the code exchange at /api/oauth/token with HTTP Basic client auth.
func BenchmarkCodeFlow(b *testing.B) {
	w := newOAuthWorld(b, false)
	w.code(b) // alice consents once; later authorizations need no page
	for b.Loop() {
		verifier := oauth2.GenerateVerifier()
		res, _ := w.alice.get(strings.TrimPrefix(w.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), w.env.srv.URL))
		loc, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
			b.Fatalf("authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}}
		req, _ := http.NewRequest(http.MethodPost, w.env.srv.URL+"/api/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(w.app.ClientID, w.secret)
		tr, err := http.DefaultClient.Do(req)
		if err != nil || tr.StatusCode != http.StatusOK {
			b.Fatalf("token: %v %v", tr, err)
		}
		tr.Body.Close()
	}
}
