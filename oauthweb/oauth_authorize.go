package oauthweb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// authorizePath is the authorization endpoint, the one path under /api/ that
// people visit in a browser: its errors are HTML pages.
const authorizePath = "/api/oauth/authorize"

// authorize handles GET /api/oauth/authorize (RFC 6749 section 4.1.1). A bad
// client or redirect URI gets an error page and never a redirect (section
// 4.1.2.1); other errors go back to the validated redirect URI.
func (p *Portal) authorize(c echo.Context) error {
	req, oerr, page := p.oauth.parseAuthorize(c.QueryParams())
	if page != "" {
		return p.render(c, http.StatusBadRequest, "error", errorView{Status: http.StatusBadRequest,
			Title: "This application's request is not valid", Message: page})
	}
	if oerr != nil {
		return redirectBack(c, req, url.Values{"error": {oerr.Name}, "error_description": {oerr.Description}})
	}
	s := sessionOf(c)
	if s == nil {
		return toLogin(c)
	}
	// Consent already given for at least this scope is not asked again of a
	// confidential client, which proves who it is when it redeems the code. A
	// public client cannot: any program on the device may send its client id
	// and receive at its loopback or private-use redirect URI, so the user is
	// asked every time (RFC 6749 section 10.2, RFC 8252 section 8.6).
	if g, err := p.store.GrantOf(s.user.Name, req.App.ClientID); err == nil && g.Scope.Has(req.Scope) && !req.App.Public {
		return p.issueCode(c, req, s.user.Name)
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internalError(err)
	}
	id := p.oauth.consents.add(&pendingConsent{req: req, user: s.user.Name, session: sessionHash(s.token)})
	c.Response().Header().Set("Cache-Control", "no-store")
	allowFormTarget(c, req.RedirectURI)
	return p.render(c, http.StatusOK, "consent", consentView{Request: id, App: req.App,
		Read: req.Scope.Has(storage.ScopeRead), Write: req.Scope.Has(storage.ScopeWrite), User: s.user.Name})
}

// consentView is what the consent page shows.
type consentView struct {
	Request     string
	App         storage.App
	Read, Write bool
	User        string
}

// consent handles the Allow or Deny of the consent page (POST
// /api/oauth/authorize): the form names only the server-side request, under
// the session's CSRF token (checked by requireLogin).
func (p *Portal) consent(c echo.Context) error {
	decision := c.FormValue("decision")
	if decision != "allow" && decision != "deny" {
		return newError(http.StatusBadRequest, "Choose Allow or Deny.") // the request stays answerable
	}
	s := sessionOf(c)
	pc, ok := p.oauth.consents.take(c.FormValue("request"), s.user.Name, sessionHash(s.token))
	if !ok {
		return newError(http.StatusBadRequest, "This authorization request has expired or was already answered. Start again from the application.")
	}
	if decision == "allow" {
		if _, err := p.store.SaveGrant(s.user.Name, pc.req.App.ClientID, pc.req.Scope); errors.Is(err, storage.ErrNotFound) {
			return newError(http.StatusBadRequest, "This application was deleted while you decided: it can no longer be allowed.")
		} else if err != nil {
			return internalError(err)
		}
		p.log.Info("oauth consent", "user", s.user.Name, "client_id", pc.req.App.ClientID, "scope", pc.req.Scope.String())
		p.cfg.Metrics.Consent("allow")
		return p.issueCode(c, pc.req, s.user.Name)
	}
	p.cfg.Metrics.Consent("deny")
	return redirectBack(c, pc.req, url.Values{"error": {"access_denied"}, "error_description": {"the user denied the request"}})
}

// issueCode makes an authorization code and sends the browser back with it.
func (p *Portal) issueCode(c echo.Context, req authRequest, user string) error {
	tgr := &oauth2.TokenGenerateRequest{ClientID: req.App.ClientID, UserID: user, Scope: req.Scope.String(), Request: c.Request()}
	if req.GivenURI {
		tgr.RedirectURI = req.RedirectURI
	}
	if req.Challenge != "" {
		tgr.CodeChallenge, tgr.CodeChallengeMethod = req.Challenge, oauth2.CodeChallengeS256
	}
	ti, err := p.oauth.mgr.GenerateAuthToken(c.Request().Context(), oauth2.Code, tgr)
	if err != nil {
		return internalError(err)
	}
	return redirectBack(c, req, url.Values{"code": {ti.GetCode()}})
}

// redirectBack sends the browser to the request's validated redirect URI with
// params and the request's state (303, so the browser follows with GET). The
// registered URI's own query is kept as registered, byte for byte, and the
// parameters follow it (RFC 6749 section 3.1.2).
func redirectBack(c echo.Context, req authRequest, params url.Values) error {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		return internalError(err) // registered URIs are validated at registration
	}
	if req.State != "" {
		params.Set("state", req.State)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += params.Encode()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, u.String())
}

// parseAuthorize validates an authorization request. A problem that makes
// the redirect URI untrustworthy comes back as page (shown, never
// redirected); any other as an oauthError for the client.
func (o *oauthServer) parseAuthorize(q url.Values) (req authRequest, oerr *oauthError, page string) {
	for _, name := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"} {
		if len(q[name]) > 1 {
			return req, nil, "The request repeats the parameter " + name + "."
		}
	}
	app, err := o.store.App(q.Get("client_id"))
	if err != nil {
		return req, nil, "The application is unknown (client_id)."
	}
	req.App = app
	switch uri := q.Get("redirect_uri"); {
	case uri != "":
		if !slices.Contains(app.RedirectURIs, uri) {
			return req, nil, "The redirect URI is not registered for this application."
		}
		req.RedirectURI, req.GivenURI = uri, true
	case len(app.RedirectURIs) == 1:
		req.RedirectURI = app.RedirectURIs[0]
	default:
		return req, nil, "The application has several redirect URIs and did not say which to use."
	}
	req.State = q.Get("state")
	if name := overLong(q); name != "" {
		if name == "state" {
			req.State = "" // not echoed: the answer would carry it back
		}
		return req, errInvalidRequest(fmt.Sprintf("%s must be at most %d bytes", name, maxParamLen)), ""
	}
	switch q.Get("response_type") {
	case "code":
	case "":
		return req, errInvalidRequest("response_type is missing (only code is supported)"), ""
	default:
		return req, &oauthError{"unsupported_response_type", "only response_type=code is supported", http.StatusBadRequest}, ""
	}
	scope := q.Get("scope")
	if scope == "" {
		scope = "all"
	}
	if req.Scope, err = storage.ParseScope(scope); err != nil {
		return req, errInvalidScope("scope must be read, write or all"), ""
	}
	req.Challenge = q.Get("code_challenge")
	method := q.Get("code_challenge_method")
	switch {
	case req.Challenge == "" && method != "":
		return req, errInvalidRequest("code_challenge_method without code_challenge"), ""
	case req.Challenge == "" && app.Public:
		return req, errInvalidRequest("a public client must use PKCE (code_challenge with S256)"), ""
	case req.Challenge != "" && method != string(oauth2.CodeChallengeS256):
		return req, errInvalidRequest("code_challenge_method must be S256"), ""
	case req.Challenge != "" && !validChallenge(req.Challenge):
		return req, errInvalidRequest("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]"), ""
	}
	return req, nil, ""
}

// maxParamLen bounds each authorization request parameter that the server
// keeps while the user decides, or sends back.
const maxParamLen = 1024

// overLong returns the name of the first parameter of q longer than
// maxParamLen, or "". client_id and redirect_uri need no bound of their own:
// they must equal what was registered.
func overLong(q url.Values) string {
	for _, name := range []string{"state", "scope", "response_type", "code_challenge", "code_challenge_method"} {
		if len(q.Get(name)) > maxParamLen {
			return name
		}
	}
	return ""
}

// validChallenge checks an S256 challenge's form (RFC 7636 section 4.2).
func validChallenge(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~') {
			return false
		}
	}
	return true
}

// sessionHash identifies a web session without keeping its token.
func sessionHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// oauthFormAction lets the login form of a pending authorization request
// (its next) end at the application: CSP form-action also governs the
// redirects that follow a form submission, and after login the browser may
// be sent straight on to the application's redirect URI.
func (p *Portal) oauthFormAction(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		target := c.QueryParam("next")
		if target == "" && c.Request().Method == http.MethodPost {
			if err := readForm(c); err != nil {
				return err // before FormValue reads a body it cannot parse as empty
			}
			target = c.FormValue("next")
		}
		if u, err := url.Parse(safeNext(target)); err == nil && u.Path == authorizePath {
			if req, _, page := p.oauth.parseAuthorize(u.Query()); page == "" {
				allowFormTarget(c, req.RedirectURI)
			}
		}
		return next(c)
	}
}

// allowFormTarget widens this page's CSP form-action to the origin of a
// validated redirect URI, so that the answer to its form can reach it.
func allowFormTarget(c echo.Context, redirectURI string) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return
	}
	src := u.Scheme + ":" // a private-use scheme (RFC 8252)
	if u.Host != "" {
		src = u.Scheme + "://" + u.Host
	}
	c.Response().Header().Set("Content-Security-Policy",
		strings.Replace(contentSecurityPolicy, "form-action 'self'", "form-action 'self' "+src, 1))
}
