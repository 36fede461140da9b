package oauthweb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goauth2 "github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"
	"golang.org/x/oauth2"

	"github.com/wotkit/wotkit/storage"
)

// errorCode is the RFC 6749 section 5.2 error of a failed exchange or
// refresh through golang.org/x/oauth2, or the error's text.
func errorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response.StatusCode == http.StatusBadRequest {
		return re.ErrorCode
	}
	return err.Error()
}

// wantInvalidGrant checks that an exchange or refresh through
// golang.org/x/oauth2 was refused with 400 invalid_grant.
func wantInvalidGrant(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || errorCode(err) != "invalid_grant" {
		t.Fatalf("%s: %v, want 400 invalid_grant", what, err)
	}
}

// issueHold wraps go-oauth2's token store, through which the token endpoint
// once stored the tokens of a grant in a transaction after the one that
// consumed the code or refresh token. While armed it holds each access token
// it is asked to store until release is closed: a grant made in two steps
// then loses, every time, the races that it can lose. A grant made in one
// transaction never comes here (codes do, and pass).
type issueHold struct {
	goauth2.TokenStore
	release atomic.Pointer[chan struct{}] // nil: not armed
	reached chan struct{}                 // a token is held
}

// holdIssues puts an issueHold, not armed, under the portal's go-oauth2 manager.
func holdIssues(w *oauthWorld) *issueHold {
	h := &issueHold{TokenStore: w.env.store.OAuthTokens(), reached: make(chan struct{}, 1)}
	w.env.portal.oauth.mgr.MapTokenStorage(h)
	return h
}

// until arms the hold: access tokens wait from now on until release is closed.
func (h *issueHold) until(release chan struct{}) { h.release.Store(&release) }

func (h *issueHold) Create(ctx context.Context, info goauth2.TokenInfo) error {
	if r := h.release.Load(); r != nil && info.GetAccess() != "" {
		select {
		case h.reached <- struct{}{}:
		default:
		}
		select {
		case <-*r:
		case <-time.After(10 * time.Second):
		}
	}
	return h.TokenStore.Create(ctx, info)
}

// concurrently runs n tries of one grant at once, with h armed until every
// try but one has failed, checks that exactly one succeeded and that the
// others were refused with invalid_grant, and returns the winner's access and
// refresh tokens. try returns the tokens, or the error's name.
func concurrently(t *testing.T, n int, h *issueHold, try func() (access, refresh, failure string)) [2]string {
	t.Helper()
	losersDone := make(chan struct{})
	var once sync.Once
	h.until(losersDone)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won [][2]string
	lost := 0
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			access, refresh, failure := try()
			mu.Lock()
			defer mu.Unlock()
			if failure != "" {
				if failure != "invalid_grant" {
					t.Errorf("a losing try: %s, want invalid_grant", failure)
				}
				if lost++; lost == n-1 {
					once.Do(func() { close(losersDone) })
				}
				return
			}
			won = append(won, [2]string{access, refresh})
		})
	}
	close(start)
	wg.Wait()
	once.Do(func() { close(losersDone) })
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent tries succeeded, want 1", len(won), n)
	}
	return won[0]
}

// wantDead checks that an access token works nowhere any more: the API
// refuses it and introspection calls it inactive (RFC 7662 section 2.2).
func (w *oauthWorld) wantDead(t *testing.T, what, access string) {
	t.Helper()
	if res, _ := w.env.apiWith(http.MethodGet, "/api/v1/me", "Bearer "+access, ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: the API answers %d, want 401", what, res.StatusCode)
	}
	if _, info := w.clientPost(t, "/api/oauth/introspect", url.Values{"token": {access}}, w.app.ClientID, w.secret); info["active"] != false {
		t.Errorf("%s: introspection says %v, want inactive", what, info)
	}
}

// wantLive checks that an access token still works on the API.
func (w *oauthWorld) wantLive(t *testing.T, what, access string) {
	t.Helper()
	if res, body := w.env.apiWith(http.MethodGet, "/api/v1/me", "Bearer "+access, ""); res.StatusCode != http.StatusOK {
		t.Errorf("%s: the API answers %d %s, want 200", what, res.StatusCode, body)
	}
}

// exchange redeems a code through golang.org/x/oauth2 or fails the test.
func (w *oauthWorld) exchange(t *testing.T, code, verifier string) *oauth2.Token {
	t.Helper()
	tok, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// refresh rotates a refresh token with a raw token request.
func (w *oauthWorld) refresh(t *testing.T, refresh string) (*http.Response, map[string]any) {
	t.Helper()
	return w.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, w.app.ClientID, w.secret)
}

// A code issued before the user revoked the application's grant buys
// nothing afterwards: revoking withdraws consent for everything outstanding.
func TestCode_IssuedBeforeGrantRevokedIsRefused(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	if err := w.env.store.RevokeGrant("alice", w.app.ClientID); err != nil {
		t.Fatal(err)
	}
	_, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	wantInvalidGrant(t, "code exchanged after the grant was revoked", err)
}

// A refresh that runs alongside the revocation of its grant either ends
// before it (and its tokens are revoked with the grant) or is refused: no
// token of the pair outlives the revocation. The revocation is made while
// a token go-oauth2's manager would issue is held, after the refresh token
// was consumed, so that a refresh made in two steps fails here every time.
func TestRefresh_AlongsideGrantRevocationLeavesNoLiveToken(t *testing.T) {
	w := newOAuthWorld(t, false)
	held := holdIssues(w)
	code, verifier := w.code(t)
	tok := w.exchange(t, code, verifier)
	revoked := make(chan struct{})
	held.until(revoked)
	type answer struct {
		res  *http.Response
		body map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		res, body := w.clientPost(t, "/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, w.app.ClientID, w.secret)
		done <- answer{res, body}
	}()
	var a answer
	finished := false
	select {
	case <-held.reached:
	case a = <-done:
		finished = true
	}
	if err := w.env.store.RevokeGrant("alice", w.app.ClientID); err != nil {
		t.Fatal(err)
	}
	close(revoked)
	if !finished {
		a = <-done
	}
	if a.res.StatusCode == http.StatusOK {
		w.wantDead(t, "a token refreshed alongside the revocation", a.body["access_token"].(string))
	}
	w.wantDead(t, "the token refreshed", tok.AccessToken)
	res, body := w.refresh(t, tok.RefreshToken)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
}

// RFC 6749 section 4.1.3: the client, the redirect URI and (RFC 7636 section
// 4.6) the verifier are checked before the code is consumed, so that whoever
// holds a leaked code can neither burn it nor, once it is used, revoke what
// it issued.
func TestCode_RefusedPresentationConsumesNothing(t *testing.T) {
	w := newOAuthWorld(t, false)
	other, otherSecret, err := w.env.store.CreateApp("bob1", storage.NewApp{Name: "Other", RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		change     url.Values // nil value: left out
		id, secret string
	}{
		{"another client", nil, other.ClientID, otherSecret},
		{"another registered redirect_uri", url.Values{"redirect_uri": {"https://dash.example.com/cb"}}, w.app.ClientID, w.secret},
		{"no redirect_uri", url.Values{"redirect_uri": nil}, w.app.ClientID, w.secret},
		{"wrong code_verifier", url.Values{"code_verifier": {oauth2.GenerateVerifier()}}, w.app.ClientID, w.secret},
		{"no code_verifier", url.Values{"code_verifier": nil}, w.app.ClientID, w.secret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := w.code(t)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
			for k, v := range tc.change {
				form[k] = v
			}
			res, body := w.tokenRequest(t, form, tc.id, tc.secret)
			wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
			tok := w.exchange(t, code, verifier)
			// Used now, the code presented the same way is refused again, and
			// is no replay: the rightful client's tokens stay.
			res, body = w.tokenRequest(t, form, tc.id, tc.secret)
			wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
			w.wantLive(t, "after a refused presentation of the used code", tok.AccessToken)
		})
	}
}

// A used code that another client presents is refused and is no replay:
// whoever holds a leaked code cannot revoke the tokens the rightful client got.
func TestCode_UsedCodeFromAnotherClientRevokesNothing(t *testing.T) {
	w := newOAuthWorld(t, false)
	other, otherSecret, err := w.env.store.CreateApp("bob1", storage.NewApp{Name: "Other", RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	code, verifier := w.code(t)
	tok := w.exchange(t, code, verifier)
	res, body := w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}}, other.ClientID, otherSecret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
	w.wantLive(t, "the rightful client's token", tok.AccessToken)
}

// Rotating a refresh token is one transaction: of many concurrent refreshes
// one wins, and the replays revoke the family, the winner's new tokens too.
// As for codes, tokens that go-oauth2's manager would issue after consuming
// the refresh token are held until the others have lost.
func TestRefreshRotation_ConcurrentRefreshesHaveOneWinner(t *testing.T) {
	w := newOAuthWorld(t, false)
	held := holdIssues(w)
	code, verifier := w.code(t)
	tok := w.exchange(t, code, verifier)
	won := concurrently(t, 8, held, func() (string, string, string) {
		res, body := w.clientPost(t, "/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, w.app.ClientID, w.secret)
		if res.StatusCode != http.StatusOK {
			return "", "", fmt.Sprint(body["error"])
		}
		return body["access_token"].(string), body["refresh_token"].(string), ""
	})
	w.wantDead(t, "the first access token", tok.AccessToken)
	w.wantDead(t, "the winner's access token, after the replays", won[0])
	res, body := w.refresh(t, won[1])
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
}

// Codes expire ten minutes after they are issued (RFC 6749 section 4.1.2
// recommends at most ten). The store has no clock: the codes are issued
// with their time of issue set back.
func TestCode_OlderThanTenMinutesIsRefused(t *testing.T) {
	w := newOAuthWorld(t, false)
	if _, err := w.env.store.SaveGrant("alice", w.app.ClientID, storage.ScopeAll); err != nil {
		t.Fatal(err)
	}
	issued := func(age time.Duration) string {
		code := storage.NewSecret(storage.PrefixAuthCode)
		err := w.env.store.OAuthTokens().Create(context.Background(), &models.Token{ClientID: w.app.ClientID, UserID: "alice",
			Scope: "read write", RedirectURI: redirectURI, Code: code, CodeCreateAt: time.Now().Add(-age), CodeExpiresIn: codeTTL})
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	exchange := func(code string) (*http.Response, map[string]any) {
		return w.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}, w.app.ClientID, w.secret)
	}
	res, body := exchange(issued(codeTTL + time.Second))
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_grant")
	if res, body := exchange(issued(codeTTL - time.Minute)); res.StatusCode != http.StatusOK {
		t.Fatalf("a code nine minutes old: %d %v", res.StatusCode, body)
	}
}

// RFC 6749 section 2.3.1: client credentials, and (our rule) every secret,
// travel in the body, never in the URL, where logs and proxies keep them.
// A request that puts one in the query is refused whole and consumes nothing.
func TestTokenEndpoints_SecretsInTheQueryAreRefused(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	post := func(path string, query, form url.Values, id, secret string) (*http.Response, map[string]any) {
		t.Helper()
		return w.clientPost(t, path+"?"+query.Encode(), form, id, secret)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	without := func(name string) url.Values {
		f := url.Values{}
		for k, v := range exchange {
			if k != name {
				f[k] = v
			}
		}
		return f
	}
	withID := func(f url.Values) url.Values { f.Set("client_id", w.app.ClientID); return f }
	for _, tc := range []struct {
		name        string
		query, form url.Values
		basic       bool
	}{
		{"client_secret", url.Values{"client_secret": {w.secret}}, withID(without("")), false},
		{"client_id", url.Values{"client_id": {w.app.ClientID}}, without(""), true},
		{"code", url.Values{"code": {code}}, without("code"), true},
		{"code_verifier", url.Values{"code_verifier": {verifier}}, without("code_verifier"), true},
		{"code in both", url.Values{"code": {code}}, without(""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret := "", ""
			if tc.basic {
				id, secret = w.app.ClientID, w.secret
			}
			res, body := post("/api/oauth/token", tc.query, tc.form, id, secret)
			wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_request")
		})
	}
	tok := w.exchange(t, code, verifier) // nothing was consumed
	res, body := post("/api/oauth/token", url.Values{"refresh_token": {tok.RefreshToken}}, url.Values{"grant_type": {"refresh_token"}}, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_request")
	for _, path := range []string{"/api/oauth/revoke", "/api/oauth/introspect"} {
		res, body := post(path, url.Values{"token": {tok.AccessToken}}, nil, w.app.ClientID, w.secret)
		wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_request")
		res, body = post(path, url.Values{"client_secret": {w.secret}}, url.Values{"token": {tok.AccessToken}, "client_id": {w.app.ClientID}}, "", "")
		wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_request")
	}
	w.wantLive(t, "after refused revocations", tok.AccessToken)
	// The endpoint's URI may carry a query of its own (RFC 6749 section 3.2).
	res, body = post("/api/oauth/token", url.Values{"tenant": {"x"}}, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the refusals: %d %v", res.StatusCode, body)
	}
}

// RFC 6749 section 6: a refresh may narrow the access token's scope, but the
// new refresh token's scope is identical to the one presented, and a refresh
// that names no scope gets all of it back.
func TestRefresh_NarrowingKeepsTheRefreshTokensScope(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	tok := w.exchange(t, code, verifier)
	res, narrowed := w.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"read"}},
		w.app.ClientID, w.secret)
	if res.StatusCode != http.StatusOK || narrowed["scope"] != "read" {
		t.Fatalf("narrowing refresh: %d %v", res.StatusCode, narrowed)
	}
	refresh := narrowed["refresh_token"].(string)
	if _, info := w.clientPost(t, "/api/oauth/introspect", url.Values{"token": {refresh}}, w.app.ClientID, w.secret); info["scope"] != "read write" {
		t.Errorf("the new refresh token's scope: %v, want read write", info["scope"])
	}
	res, body := w.refresh(t, refresh)
	if res.StatusCode != http.StatusOK || body["scope"] != "read write" {
		t.Fatalf("refresh without a scope after narrowing: %d %v, want read write", res.StatusCode, body)
	}
}

// RFC 6749 section 4.1.2: a code used twice revokes what was issued from it,
// also after the code has expired and the sweep of expired records has run:
// a used code is kept as long as anything issued from it lives.
func TestCodeReplay_AfterExpiryAndSweepStillRevokes(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	tok := w.exchange(t, code, verifier)
	if _, err := w.env.store.Sweep(time.Now().Add(codeTTL + time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := w.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	wantInvalidGrant(t, "a code replayed after it expired", err)
	w.wantDead(t, "the access token issued from the replayed code", tok.AccessToken)
}

// TestTokenEndpoint_OversizedBodySaysSo: a body past the limit is refused as
// invalid_request saying so (it was told to be form-encoded, which it was),
// and the code it carried is not consumed.
func TestTokenEndpoint_OversizedBodySaysSo(t *testing.T) {
	w := newOAuthWorld(t, false)
	code, verifier := w.code(t)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	big := url.Values{"padding": {strings.Repeat("x", maxBodyBytes)}}
	for k, v := range form {
		big[k] = v
	}
	res, body := w.tokenRequest(t, big, w.app.ClientID, w.secret)
	wantOAuthError(t, res, body, http.StatusBadRequest, "invalid_request")
	if d, _ := body["error_description"].(string); !strings.Contains(d, "at most") {
		t.Errorf("error_description %q, want the size limit", d)
	}
	if res, body := w.tokenRequest(t, form, w.app.ClientID, w.secret); res.StatusCode != http.StatusOK {
		t.Fatalf("the code after the refused request: %d %v", res.StatusCode, body)
	}
}
