package oauthweb

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// pendingCount is how many consent requests are waiting.
func (p *pendingConsents) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// consentPage opens the consent page of authPath for b and returns its request id and CSRF token.
func consentPage(t *testing.T, b *browser, authPath string) (request, csrf string) {
	t.Helper()
	res, body := b.get(authPath)
	m, c := requestInput.FindStringSubmatch(body), csrfInput.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil || c == nil {
		t.Fatalf("consent page: %d %s", res.StatusCode, body)
	}
	return m[1], c[1]
}

// authPath is the path and query of an authorization request with PKCE and extra parameters.
func (w *oauthWorld) authPath(state string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, extra...)
	return strings.TrimPrefix(w.conf.AuthCodeURL(state, opts...), w.env.srv.URL)
}

// wantHTMLError fails unless res is an HTML error page with status, as the
// rest of the portal shows, and not WoTKit's JSON document.
func wantHTMLError(t *testing.T, res *http.Response, body string, status int) {
	t.Helper()
	if res.StatusCode != status || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<html") || strings.Contains(body, "developerMessage") {
		t.Fatalf("%d %q %s, want an HTML error page with %d", res.StatusCode, res.Header.Get("Content-Type"), body, status)
	}
}

// TestAuthorize_OverLongParametersRefused: a request whose parameters the
// server would hold while the user decides is bounded; an over-long one is
// invalid_request (RFC 6749 section 4.1.2.1), and nothing is kept for it.
func TestAuthorize_OverLongParametersRefused(t *testing.T) {
	w := newOAuthWorld(t, false)
	long := strings.Repeat("a", maxParamLen+1)
	cases := []struct {
		name, state string
		extra       []oauth2.AuthCodeOption
		wantState   string // echoed back; an over-long state is not
	}{
		{"state", long, nil, ""},
		{"scope", "s", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", strings.Repeat("read ", 300))}, "s"},
		{"code_challenge", "s", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", long)}, "s"},
		{"code_challenge_method", "s", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge_method", long)}, "s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := w.alice.get(w.authPath(tc.state, tc.extra...))
			loc, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusSeeOther || loc == nil {
				t.Fatalf("%d %s, want a redirect with invalid_request", res.StatusCode, body)
			}
			if q := loc.Query(); q.Get("error") != "invalid_request" || q.Get("state") != tc.wantState {
				t.Fatalf("redirected with %v, want invalid_request and state %q", q, tc.wantState)
			}
		})
	}
	if n := w.env.portal.oauth.consents.pendingCount(); n != 0 {
		t.Fatalf("%d consent requests kept for refused requests", n)
	}
	// The bound itself is allowed.
	if res, _ := w.alice.get(w.authPath(strings.Repeat("a", maxParamLen))); res.StatusCode != http.StatusOK {
		t.Fatalf("a state of %d bytes: %d, want the consent page", maxParamLen, res.StatusCode)
	}
}

// TestConsent_OneUserCannotLockOthersOut: however many consent pages one user
// opens, that user holds at most maxPendingPerUser, and another user's
// request still waits for its answer.
func TestConsent_OneUserCannotLockOthersOut(t *testing.T) {
	p := newPendingConsents()
	for range maxPendingConsents {
		p.add(&pendingConsent{user: "mallory", session: "m"})
	}
	if n := p.pendingCount(); n != maxPendingPerUser {
		t.Fatalf("mallory holds %d requests, want %d", n, maxPendingPerUser)
	}
	alice := p.add(&pendingConsent{user: "alice", session: "a"})
	if _, ok := p.take(alice, "alice", "a"); !ok {
		t.Fatal("alice's request, made after mallory's, is not answerable")
	}
}

// TestConsent_ManyAccountsCannotLockOthersOut: accounts that together fill
// every place (500 of them, each with maxPendingPerUser requests), and then
// go on opening requests from fresh accounts, neither refuse alice a consent
// page nor make her request, or bob's two, stop being answerable: each new
// request takes the place of one from whoever has the most waiting.
func TestConsent_ManyAccountsCannotLockOthersOut(t *testing.T) {
	w := newOAuthWorld(t, false)
	p := w.env.portal.oauth.consents
	mallory := func(from, to int) {
		for i := from; i < to; i++ {
			p.add(&pendingConsent{user: fmt.Sprintf("m%d", i/maxPendingPerUser), session: "m"})
		}
	}
	mallory(0, maxPendingConsents)
	request, csrf := consentPage(t, w.alice, w.authPath("alice"))
	bob1 := p.add(&pendingConsent{user: "bob", session: "b"})
	bob2 := p.add(&pendingConsent{user: "bob", session: "b"})
	mallory(maxPendingConsents, 3*maxPendingConsents)
	if n := p.pendingCount(); n != maxPendingConsents {
		t.Fatalf("%d requests waiting, want the bound, %d", n, maxPendingConsents)
	}
	for _, id := range []string{bob1, bob2} {
		if _, ok := p.take(id, "bob", "b"); !ok {
			t.Error("one of bob's requests was dropped for mallory's")
		}
	}
	res, body := w.alice.post(authorizePath, url.Values{"request": {request}, csrfField: {csrf}, "decision": {"allow"}})
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("alice's answer after mallory's requests: %d %s", res.StatusCode, body)
	}
}

// TestConsent_ExpiredGoFirstAndAnsweredAreForgotten: an expired request is
// dropped at the next request, and the ids of answered requests are not kept:
// however many requests are opened and answered while one waits, the store
// holds at most twice the bound of ids.
func TestConsent_ExpiredGoFirstAndAnsweredAreForgotten(t *testing.T) {
	p := newPendingConsents()
	stale := p.add(&pendingConsent{user: "carol", session: "c"})
	waiting := p.add(&pendingConsent{user: "dave", session: "d"})
	p.mu.Lock()
	p.pending[stale].expires = time.Now().Add(-time.Second)
	p.mu.Unlock()
	p.add(&pendingConsent{user: "erin", session: "e"})
	if _, ok := p.take(stale, "carol", "c"); ok || p.pendingCount() != 2 {
		t.Fatalf("the expired request is still there (%d waiting)", p.pendingCount())
	}
	for range 3 * maxPendingConsents {
		id := p.add(&pendingConsent{user: "frank", session: "f"})
		if _, ok := p.take(id, "frank", "f"); !ok {
			t.Fatal("frank's request was not answerable")
		}
	}
	p.mu.Lock()
	kept := len(p.order)
	p.mu.Unlock()
	if kept >= 2*maxPendingConsents {
		t.Errorf("%d request ids kept for 2 waiting", kept)
	}
	if _, ok := p.take(waiting, "dave", "d"); !ok {
		t.Error("dave's request, waiting all along, was lost")
	}
}

// TestConsent_PerUserCapDropsTheOldest: the user's oldest consent page stops
// being answerable when too many are open; the newest still works.
func TestConsent_PerUserCapDropsTheOldest(t *testing.T) {
	w := newOAuthWorld(t, false)
	first, csrf := consentPage(t, w.alice, w.authPath("first"))
	var last string
	for range maxPendingPerUser {
		last, _ = consentPage(t, w.alice, w.authPath("later"))
	}
	res, body := w.alice.post(authorizePath, url.Values{"request": {first}, csrfField: {csrf}, "decision": {"allow"}})
	wantHTMLError(t, res, body, http.StatusBadRequest)
	res, body = w.alice.post(authorizePath, url.Values{"request": {last}, csrfField: {csrf}, "decision": {"allow"}})
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("the newest request: %d %s", res.StatusCode, body)
	}
}

// TestConsent_ErrorsAreHTMLPages: the authorization endpoint is visited by
// people, so what goes wrong there is an HTML page, never JSON, although
// its path is under /api/.
func TestConsent_ErrorsAreHTMLPages(t *testing.T) {
	w := newOAuthWorld(t, false)
	answered, csrf := consentPage(t, w.alice, w.authPath("s"))
	if res, _ := w.alice.post(authorizePath, url.Values{"request": {answered}, csrfField: {csrf}, "decision": {"deny"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("deny: %d", res.StatusCode)
	}
	pending, _ := consentPage(t, w.alice, w.authPath("s"))
	cases := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"already answered", url.Values{"request": {answered}, csrfField: {csrf}, "decision": {"allow"}}, http.StatusBadRequest},
		{"unknown request", url.Values{"request": {"nope"}, csrfField: {csrf}, "decision": {"allow"}}, http.StatusBadRequest},
		{"no CSRF token", url.Values{"request": {pending}, "decision": {"allow"}}, http.StatusForbidden},
		{"no decision", url.Values{"request": {pending}, csrfField: {csrf}}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := w.alice.post(authorizePath, tc.form)
			wantHTMLError(t, res, body, tc.status)
		})
	}
}

// TestConsent_UnknownDecisionKeepsTheRequest: a decision that is neither
// allow nor deny is refused without using up the request, which can then be
// answered.
func TestConsent_UnknownDecisionKeepsTheRequest(t *testing.T) {
	w := newOAuthWorld(t, false)
	request, csrf := consentPage(t, w.alice, w.authPath("s"))
	res, body := w.alice.post(authorizePath, url.Values{"request": {request}, csrfField: {csrf}, "decision": {"maybe"}})
	wantHTMLError(t, res, body, http.StatusBadRequest)
	res, body = w.alice.post(authorizePath, url.Values{"request": {request}, csrfField: {csrf}, "decision": {"allow"}})
	if loc, _ := url.Parse(res.Header.Get("Location")); res.StatusCode != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("allow after an unknown decision: %d %s", res.StatusCode, body)
	}
}

// An application deleted while its consent page waits gets nothing from an
// Allow: the user sees an error page saying so, not a server error.
func TestConsent_ApplicationDeletedMeanwhileIsAnErrorPage(t *testing.T) {
	w := newOAuthWorld(t, false)
	request, csrf := consentPage(t, w.alice, w.authPath("s"))
	if err := w.env.store.DeleteApp(w.app.ClientID); err != nil {
		t.Fatal(err)
	}
	res, body := w.alice.post(authorizePath, url.Values{"request": {request}, csrfField: {csrf}, "decision": {"allow"}})
	wantHTMLError(t, res, body, http.StatusBadRequest)
	if res.Header.Get("Location") != "" {
		t.Errorf("redirected to %q", res.Header.Get("Location"))
	}
}

// TestConsent_PublicClientAskedEveryTime: a confidential client that alice
// allowed gets its next codes without a page (it authenticates when it
// redeems them); a public client cannot prove who it is, so any program that
// sends its client id and listens on its redirect URI could take tokens
// silently: alice is asked every time (RFC 6749 section 10.2, RFC 8252
// section 8.6).
func TestConsent_PublicClientAskedEveryTime(t *testing.T) {
	for _, public := range []bool{false, true} {
		w := newOAuthWorld(t, public)
		w.code(t) // alice allows once
		res, body := w.alice.get(w.authPath("again"))
		switch {
		case public && (res.StatusCode != http.StatusOK || !requestInput.MatchString(body)):
			t.Fatalf("public client allowed before: %d, want the consent page again", res.StatusCode)
		case !public && res.StatusCode != http.StatusSeeOther:
			t.Fatalf("confidential client allowed before: %d, want a redirect with a code", res.StatusCode)
		}
	}
}
