package oauthweb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/wotkit/wotkit/storage"
)

const redirectURI = "http://127.0.0.1:9/callback"

// oauthWorld is a portal with an application registered by bob1 and a user
// alice signed in on a browser.
type oauthWorld struct {
	env    *testEnv
	app    storage.App
	secret string
	conf   *oauth2.Config
	alice  *browser
}

func newOAuthWorld(t testing.TB, public bool) *oauthWorld {
	t.Helper()
	env := newTestEnv(t)
	env.user("alice", "alice password")
	env.user("bob1", "bob1 password")
	app, secret, err := env.store.CreateApp("bob1", storage.NewApp{Name: "Dashboard", RedirectURIs: []string{redirectURI, "https://dash.example.com/cb"}, Public: public})
	if err != nil {
		t.Fatal(err)
	}
	w := &oauthWorld{env: env, app: app, secret: secret, alice: env.browser("127.0.0.1")}
	w.conf = &oauth2.Config{
		ClientID: app.ClientID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"all"},
		Endpoint: oauth2.Endpoint{AuthURL: env.srv.URL + "/api/oauth/authorize", TokenURL: env.srv.URL + "/api/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	w.alice.login("alice", "alice password")
	return w
}

var requestInput = regexp.MustCompile(`name="request" value="([^"]+)"`)

// approve walks alice through authURL: consent (when asked) with decision,
// and returns the query of the redirect back to the application.
func (w *oauthWorld) approve(t testing.TB, authURL, decision string) url.Values {
	t.Helper()
	res, body := w.alice.get(strings.TrimPrefix(authURL, w.env.srv.URL))
	if res.StatusCode == http.StatusOK {
		m, c := requestInput.FindStringSubmatch(body), csrfInput.FindStringSubmatch(body)
		if m == nil || c == nil {
			t.Fatalf("consent page without request or CSRF token: %s", body)
		}
		res, body = w.alice.post("/api/oauth/authorize", url.Values{"request": {m[1]}, csrfField: {c[1]}, "decision": {decision}})
	}
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d %s", res.StatusCode, body)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != redirectURI {
		t.Fatalf("redirected to %q", res.Header.Get("Location"))
	}
	return loc.Query()
}

// code gets an authorization code with PKCE and returns it with its verifier.
func (w *oauthWorld) code(t testing.TB) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q := w.approve(t, w.conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)), "allow")
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("redirect query %v", q)
	}
	return q.Get("code"), verifier
}

// tokenRequest posts a raw form to the token endpoint with optional Basic credentials.
func (w *oauthWorld) tokenRequest(t *testing.T, form url.Values, id, secret string) (*http.Response, map[string]any) {
	t.Helper()
	return w.clientPost(t, "/api/oauth/token", form, id, secret)
}

// clientPost posts a form to an OAuth2 endpoint with optional Basic client
// credentials and decodes the JSON answer.
func (w *oauthWorld) clientPost(t *testing.T, path string, form url.Values, id, secret string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.env.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res, body
}

func wantOAuthError(t *testing.T, res *http.Response, body map[string]any, status int, name string) {
	t.Helper()
	if res.StatusCode != status || body["error"] != name {
		t.Fatalf("got %d %v, want %d %s", res.StatusCode, body, status, name)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error response without Cache-Control: no-store")
	}
}

func TestOAuth_CodeFlowWithPKCEAndRefresh(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	ctx := context.Background()
	tok, err := w.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, storage.PrefixAccessToken) || len(tok.AccessToken) < len(storage.PrefixAccessToken)+43 ||
		!strings.HasPrefix(tok.RefreshToken, storage.PrefixRefreshToken) || len(tok.RefreshToken) < len(storage.PrefixRefreshToken)+43 {
		t.Fatalf("tokens %q %q: want prefixed 256-bit tokens", tok.AccessToken, tok.RefreshToken)
	}
	if tok.TokenType != "bearer" || tok.Extra("scope") != "read write" {
		t.Errorf("token type %q scope %v", tok.TokenType, tok.Extra("scope"))
	}
	if exp := time.Until(tok.Expiry); exp < 43100*time.Second || exp > 43200*time.Second {
		t.Errorf("expires in %v, want 43200 s", exp)
	}
	at, err := w.env.store.AuthenticateToken(tok.AccessToken)
	if err != nil || at.User != "alice" || at.ClientID != w.app.ClientID || at.Scope != storage.ScopeAll {
		t.Fatalf("token acts for %+v (%v)", at, err)
	}
	// Refresh through a TokenSource: a new pair, the old refresh token retired.
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := w.conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	if _, err := w.env.store.AuthenticateToken(fresh.AccessToken); err != nil {
		t.Fatalf("refreshed token: %v", err)
	}
}

func TestOAuth_TokenResponseIsNotCached(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	res, body := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}}, w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("%d %v", res.StatusCode, body)
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q Pragma %q", res.Header.Get("Cache-Control"), res.Header.Get("Pragma"))
	}
}

// RFC 6749 section 3.1.2.3 and the Security BCP: exact string comparison;
// go-oauth2's default accepts any URI whose host ends with the registered one.
func TestRedirectURI_OnlyExactMatchAccepted(t *testing.T) {
	w := newOAuthWorld(t, false)
	forged := []string{
		"http://evil.127.0.0.1:9/callback", "http://127.0.0.1:9/callback/", "http://127.0.0.1:9/callback?x=1",
		"http://127.0.0.1:9/callback/../evil", "http://127.0.0.1:9/Callback", "http://127.0.0.1:10/callback",
		"https://127.0.0.1:9/callback", "https://dash.example.com/cb.evil.com", "https://evil-dash.example.com/cb",
		"https://dash.example.com.evil.com/cb", "https://DASH.example.com/cb", "https://dash.example.com/cb#x",
		"https://dash.example.com:443/cb", "//dash.example.com/cb", "javascript:alert(1)", "",
	}
	for _, uri := range forged {
		q := url.Values{"response_type": {"code"}, "client_id": {w.app.ClientID}, "redirect_uri": {uri}, "state": {"s"}}
		if uri == "" {
			q.Del("redirect_uri") // two registered URIs: the request must say which
		}
		res, body := w.alice.get("/api/oauth/authorize?" + q.Encode())
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("redirect_uri %q: %d Location %q, want an error page", uri, res.StatusCode, res.Header.Get("Location"))
		}
		if !strings.Contains(body, "<html") {
			t.Errorf("redirect_uri %q: not an HTML error page", uri)
		}
	}
	for _, uri := range []string{redirectURI, "https://dash.example.com/cb"} {
		q := url.Values{"response_type": {"code"}, "client_id": {w.app.ClientID}, "redirect_uri": {uri}}
		if res, _ := w.alice.get("/api/oauth/authorize?" + q.Encode()); res.StatusCode != http.StatusOK {
			t.Errorf("registered %q: %d", uri, res.StatusCode)
		}
	}
}

// A bad client id gets an error page, never a redirect to the URI it names.
func TestAuthorize_UnknownClientNeverRedirects(t *testing.T) {
	w := newOAuthWorld(t, false)
	for _, q := range []url.Values{
		{"response_type": {"code"}, "client_id": {"CNOSUCHCLIENT"}, "redirect_uri": {"https://evil.example/cb"}},
		{"response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}},
		{"response_type": {"code"}, "client_id": {w.app.ClientID, w.app.ClientID}, "redirect_uri": {redirectURI}},
	} {
		res, _ := w.alice.get("/api/oauth/authorize?" + q.Encode())
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%v: %d Location %q", q, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

// Implicit, password and client-credentials grants are on in go-oauth2's server by default.
func TestOnlyCodeAndRefreshGrants(t *testing.T) {
	w := newOAuthWorld(t, false)
	q := w.approve(t, w.env.srv.URL+"/api/oauth/authorize?"+url.Values{"response_type": {"token"}, "client_id": {w.app.ClientID},
		"redirect_uri": {redirectURI}, "state": {"s"}}.Encode(), "")
	if q.Get("error") != "unsupported_response_type" || q.Get("access_token") != "" || q.Get("state") != "s" {
		t.Errorf("implicit grant: %v", q)
	}
	for _, form := range []url.Values{
		{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice password"}},
		{"grant_type": {"client_credentials"}},
		{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}},
	} {
		res, body := w.tokenRequest(t, form, w.app.ClientID, w.secret)
		wantOAuthError(t, res, body, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func TestPKCE_S256Only_RequiredForPublicClients_EnforcedWhenSent(t *testing.T) {
	w := newOAuthWorld(t, false)
	auth := func(extra url.Values) url.Values {
		q := url.Values{"response_type": {"code"}, "client_id": {w.app.ClientID}, "redirect_uri": {redirectURI}}
		for k, v := range extra {
			q[k] = v
		}
		return w.approve(t, w.env.srv.URL+"/api/oauth/authorize?"+q.Encode(), "allow")
	}
	verifier := oauth2.GenerateVerifier()
	if q := auth(url.Values{"code_challenge": {verifier}, "code_challenge_method": {"plain"}}); q.Get("error") != "invalid_request" {
		t.Errorf("plain PKCE: %v, want invalid_request", q)
	}
	if q := auth(url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}}); q.Get("error") != "invalid_request" {
		t.Errorf("challenge without method (plain by default): %v, want invalid_request", q)
	}
	q := auth(url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}})
	code := q.Get("code")
	// A challenge was sent: a missing verifier is invalid_grant, not a 500.
	res, body := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")

	q = auth(url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}})
	res, body = w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirectURI},
		"code_verifier": {oauth2.GenerateVerifier()}}, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")

	pub := newOAuthWorld(t, true)
	q = pub.approve(t, pub.env.srv.URL+"/api/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {pub.app.ClientID}, "redirect_uri": {redirectURI}}.Encode(), "allow")
	if q.Get("error") != "invalid_request" {
		t.Errorf("public client without PKCE: %v, want invalid_request", q)
	}
	// A public client with PKCE gets tokens without a secret.
	pub.conf.ClientSecret = ""
	pub.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	code, v := pub.code(t)
	if _, err := pub.conf.Exchange(context.Background(), code, oauth2.VerifierOption(v)); err != nil {
		t.Errorf("public client exchange: %v", err)
	}
}

// go-oauth2's refresh grant authenticates no client and takes any scope.
func TestRefresh_BoundToItsClientAndNeverWidened(t *testing.T) {
	w := newOAuthWorld(t, false)
	other, otherSecret, err := w.env.store.CreateApp("bob1", storage.NewApp{Name: "Other", RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	q := w.approve(t, w.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("scope", "read")), "allow")
	tok, err := w.conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}

	res, body := w.tokenRequest(t, refresh, "", "")
	wantOAuthError(t, res, body, http.StatusUnauthorized, "invalid_client")
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("invalid_client without WWW-Authenticate")
	}
	res, body = w.tokenRequest(t, refresh, w.app.ClientID, "wks_wrong")
	wantOAuthError(t, res, body, http.StatusUnauthorized, "invalid_client")
	res, body = w.tokenRequest(t, refresh, other.ClientID, otherSecret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
	widen := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"all"}}
	res, body = w.tokenRequest(t, widen, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_scope")
	// None of the refusals consumed the token: the rightful client still refreshes, within scope.
	res, body = w.tokenRequest(t, refresh, w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK || body["scope"] != "read" {
		t.Fatalf("rightful refresh: %d %v", res.StatusCode, body)
	}
}

func TestCodeReplay_FailsAndRevokesWhatItIssued(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	tok, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed code: %v, want 400 invalid_grant", err)
	}
	if _, err := w.env.store.AuthenticateToken(tok.AccessToken); !errors.Is(err, storage.ErrBadCredentials) {
		t.Errorf("access token issued from a replayed code still works: %v", err)
	}
	if info, _ := w.env.store.IntrospectToken(tok.RefreshToken); info.Active {
		t.Error("refresh token issued from a replayed code still works")
	}
}

// Consuming a code and issuing its tokens is one transaction: of many
// concurrent exchanges one wins, and the others, replays, revoke what it got
// (RFC 6749 section 4.1.2). Tokens that go-oauth2's manager would issue after
// consuming the code are held until the others have lost, so that a path
// that consumes and issues in two steps fails here every time.
func TestCodeRedemption_ConcurrentExchangesHaveOneWinner(t *testing.T) {
	w := newOAuthWorld(t, false)
	held := holdIssues(w)
	code, verifier := w.code(t)
	won := concurrently(t, 8, held, func() (string, string, string) {
		tok, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			return "", "", errorCode(err)
		}
		return tok.AccessToken, tok.RefreshToken, ""
	})
	w.wantDead(t, "the winner's access token, after the replays", won[0])
	res, body := w.refresh(t, won[1])
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
}

func TestRefreshReplay_FailsAndRevokesTheFamily(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	tok, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	res, fresh := w.tokenRequest(t, refresh, w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first refresh: %d %v", res.StatusCode, fresh)
	}
	res, body := w.tokenRequest(t, refresh, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
	for _, access := range []string{tok.AccessToken, fresh["access_token"].(string)} {
		if _, err := w.env.store.AuthenticateToken(access); err == nil {
			t.Errorf("a token of the replayed family still works")
		}
	}
	res, body = w.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
}

// RFC 6749 section 2.3.1: Basic credentials are form-urlencoded first.
func TestClientAuth_BasicCredentialsAreURLDecoded(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	over := strings.ReplaceAll(url.QueryEscape(w.secret), "_", "%5F") // a client that encodes more than it must
	res, body := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}}, w.app.ClientID, over)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("percent-encoded secret: %d %v", res.StatusCode, body)
	}
}

func TestConsent_DenyAndBinding(t *testing.T) {
	w := newOAuthWorld(t, false)
	verifier := oauth2.GenerateVerifier()
	authURL := w.conf.AuthCodeURL("keep-me", oauth2.S256ChallengeOption(verifier))
	q := w.approve(t, authURL, "deny")
	if q.Get("error") != "access_denied" || q.Get("state") != "keep-me" || q.Get("code") != "" {
		t.Fatalf("deny: %v", q)
	}
	// The consent page cannot be framed, and names the app and the scopes.
	res, body := w.alice.get(strings.TrimPrefix(authURL, w.env.srv.URL))
	if !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("consent page can be framed: %v", res.Header)
	}
	for _, want := range []string{"Dashboard", "read", "write", `id="allow"`, `id="deny"`} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	req := requestInput.FindStringSubmatch(body)[1]
	// Without the CSRF token: refused.
	if res, _ := w.alice.post("/api/oauth/authorize", url.Values{"request": {req}, "decision": {"allow"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("consent without CSRF: %d", res.StatusCode)
	}
	// Another user's session cannot answer alice's request.
	w.env.user("mallory", "mallory password")
	m := w.env.browser("127.0.0.2")
	m.login("mallory", "mallory password")
	if res, _ := m.submit("/keys", "/api/oauth/authorize", url.Values{"request": {req}, "decision": {"allow"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("another session answering the consent: %d", res.StatusCode)
	}
	// Nothing was granted by the refusals.
	if _, err := w.env.store.GrantOf("alice", w.app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a grant exists after deny and refusals: %v", err)
	}
}

func TestAuthorize_LoginFirst(t *testing.T) {
	w := newOAuthWorld(t, false)
	anon := w.env.browser("127.0.0.1")
	path := strings.TrimPrefix(w.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), w.env.srv.URL)
	res, _ := anon.get(path)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	next, _ := url.QueryUnescape(strings.TrimPrefix(res.Header.Get("Location"), "/login?next="))
	if next != path {
		t.Errorf("next %q, want %q", next, path)
	}
}

func TestRevokeAndIntrospect(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	tok, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) (*http.Response, map[string]any) {
		return w.clientPost(t, path, form, w.app.ClientID, w.secret)
	}
	_, info := post("/api/oauth/introspect", url.Values{"token": {tok.AccessToken}})
	if info["active"] != true || info["username"] != "alice" || info["client_id"] != w.app.ClientID || info["scope"] != "read write" {
		t.Fatalf("introspect: %v", info)
	}
	if res, _ := post("/api/oauth/revoke", url.Values{"token": {tok.AccessToken}}); res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if _, info = post("/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}); info["active"] != false {
		t.Fatalf("introspect after revoke: %v", info)
	}
	if res, _ := post("/api/oauth/revoke", url.Values{"token": {"wka_unknown"}}); res.StatusCode != http.StatusOK {
		t.Errorf("revoking an unknown token: %d, want 200 (RFC 7009 section 2.2)", res.StatusCode)
	}
}

func TestMetadata(t *testing.T) {
	w := newOAuthWorld(t, false)
	res, body := w.alice.get("/.well-known/oauth-authorization-server")
	var md map[string]any
	if err := json.Unmarshal([]byte(body), &md); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	if md["issuer"] != "http://wotkit.example:8080" || md["token_endpoint"] != "http://wotkit.example:8080/api/oauth/token" {
		t.Errorf("metadata %v", md)
	}
	if g := md["grant_types_supported"].([]any); len(g) != 2 {
		t.Errorf("grant types %v", g)
	}
}

// CSP form-action also governs the redirects after a form: the login form of
// an authorization request may end at the application, other forms may not.
func TestLoginForAuthorization_FormMayReachTheApplication(t *testing.T) {
	w := newOAuthWorld(t, false)
	anon := w.env.browser("127.0.0.1")
	authPath := strings.TrimPrefix(w.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), w.env.srv.URL)
	res, _ := anon.get("/login?next=" + url.QueryEscape(authPath))
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:9;") {
		t.Errorf("login for an authorization request: CSP %q", csp)
	}
	forged := strings.Replace(authPath, url.QueryEscape(redirectURI), url.QueryEscape("https://evil.example/cb"), 1)
	for _, path := range []string{"/login", "/login?next=" + url.QueryEscape(forged), "/login?next=" + url.QueryEscape("https://evil.example/")} {
		res, _ := anon.get(path)
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") {
			t.Errorf("%s: CSP %q, want form-action 'self' only", path, csp)
		}
	}
}

// go-oauth2's default code generator gives an MD5 of a UUID: under 128 bits
// of randomness. wotkit's codes are 256 bits from crypto/rand with a prefix.
func TestCode_Is256BitsPrefixed(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, _ := w.code(t)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(code, storage.PrefixAuthCode))
	if !strings.HasPrefix(code, storage.PrefixAuthCode) || err != nil || len(raw) != 32 {
		t.Fatalf("code %q: want %s and 32 random bytes, base64url (%v)", code, storage.PrefixAuthCode, err)
	}
}

// RFC 6749 section 3.2: a parameter sent without a value is as if omitted,
// so an empty client_secret beside Basic credentials is no second method.
func TestClientAuth_EmptyFormSecretBesideBasicIsOmitted(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	res, body := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"redirect_uri": {redirectURI}, "client_secret": {""}}, w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Basic with an empty client_secret: %d %v", res.StatusCode, body)
	}
}

// TestRedirectURI_RegisteredQueryKept: a registered redirect URI's query is
// kept as registered, and the code and state follow it (RFC 6749 section
// 3.1.2); it was parsed and encoded again, its parameters reordered.
func TestRedirectURI_RegisteredQueryKept(t *testing.T) {
	w := newOAuthWorld(t, false)
	registered := "https://dash.example.com/cb?tenant=b&site=a"
	app, _, err := w.env.store.CreateApp("bob1", storage.NewApp{Name: "Tenant", RedirectURIs: []string{registered}})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "state": {"s"}}
	request, csrf := consentPage(t, w.alice, "/api/oauth/authorize?"+q.Encode())
	res, _ := w.alice.post("/api/oauth/authorize", url.Values{"request": {request}, csrfField: {csrf}, "decision": {"allow"}})
	loc := res.Header.Get("Location")
	u, err := url.Parse(loc)
	if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc, registered+"&") ||
		u.Query().Get("code") == "" || u.Query().Get("state") != "s" {
		t.Fatalf("%d Location %q, want %s&code=…&state=s", res.StatusCode, loc, registered)
	}
}

// TestAuthorize_MissingResponseTypeIsInvalidRequest: a request without
// response_type is malformed (invalid_request), not one of an unsupported
// type (RFC 6749 section 4.1.2.1).
func TestAuthorize_MissingResponseTypeIsInvalidRequest(t *testing.T) {
	w := newOAuthWorld(t, false)
	q := url.Values{"client_id": {w.app.ClientID}, "redirect_uri": {redirectURI}, "state": {"s"}}
	got := w.approve(t, w.env.srv.URL+"/api/oauth/authorize?"+q.Encode(), "")
	if got.Get("error") != "invalid_request" || got.Get("code") != "" || got.Get("state") != "s" {
		t.Fatalf("redirect query %v, want error=invalid_request with the state", got)
	}
}
