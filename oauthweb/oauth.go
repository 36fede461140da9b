package oauthweb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// Lifetimes of what the authorization server issues.
const (
	// DefaultTokenTTL is an access token's lifetime, as WoTKit's (43200 s).
	DefaultTokenTTL = 12 * time.Hour
	// codeTTL is an authorization code's lifetime (RFC 6749 section 4.1.2: short).
	codeTTL = 10 * time.Minute
	// refreshTTL is a refresh token's lifetime from its last use.
	refreshTTL = 30 * 24 * time.Hour
)

// oauthServer is wotkit's authorization server. go-oauth2's manager issues
// authorization codes, with its unsafe defaults closed: codes from crypto/rand
// with 256 bits and a type prefix, stored only as hashes; redirect URIs
// compared exactly. The token endpoint runs its grants itself, each as one
// storage transaction (storage.Store.RedeemCode and RotateRefresh), and never
// go-oauth2's server, whose implicit, password and client-credentials grants
// are on by default.
type oauthServer struct {
	store    *storage.Store
	mgr      *manage.Manager
	issuer   string
	life     storage.Lifetimes // of the tokens the grants issue
	consents *pendingConsents
	log      *slog.Logger
}

func newOAuthServer(store *storage.Store, issuer string, tokenTTL time.Duration, log *slog.Logger) *oauthServer {
	m := manage.NewManager()
	m.MapClientStorage(store.OAuthClients())
	m.MapTokenStorage(store.OAuthTokens())
	m.MapAuthorizeGenerate(codeGenerator{})
	m.SetAuthorizeCodeExp(codeTTL)
	m.SetValidateURIHandler(exactRedirectURI)
	return &oauthServer{store: store, mgr: m, issuer: issuer, life: storage.Lifetimes{Access: tokenTTL, Refresh: refreshTTL},
		consents: newPendingConsents(), log: log}
}

// exactRedirectURI replaces go-oauth2's host-suffix match: the URI must equal,
// character for character, one registered for the client (RFC 6749 section
// 3.1.2.3, and the OAuth 2.0 Security BCP).
func exactRedirectURI(registered, redirectURI string) error {
	if slices.Contains(storage.RedirectURIs(registered), redirectURI) {
		return nil
	}
	return oauth2errors.ErrInvalidRedirectURI
}

// codeGenerator makes authorization codes: 256 bits, prefixed.
type codeGenerator struct{}

func (codeGenerator) Token(context.Context, *oauth2.GenerateBasic) (string, error) {
	return storage.NewSecret(storage.PrefixAuthCode), nil
}

// oauthError is an OAuth2 error response (RFC 6749 sections 4.1.2.1 and 5.2).
type oauthError struct {
	Name        string // error code, e.g. invalid_grant
	Description string
	Status      int
}

func (e *oauthError) Error() string { return e.Name + ": " + e.Description }

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{"invalid_request", desc, http.StatusBadRequest}
}
func errInvalidGrant(desc string) *oauthError {
	return &oauthError{"invalid_grant", desc, http.StatusBadRequest}
}
func errInvalidScope(desc string) *oauthError {
	return &oauthError{"invalid_scope", desc, http.StatusBadRequest}
}

// errInvalidClient is 401 with WWW-Authenticate (RFC 6749 section 5.2).
var errInvalidClient = &oauthError{"invalid_client", "client authentication failed", http.StatusUnauthorized}

// grantError maps what the storage grants return to the RFC's error, so
// that a bad code, refresh token or verifier is invalid_grant, never 500.
func grantError(err error) *oauthError {
	switch {
	case errors.Is(err, storage.ErrReplayed):
		return errInvalidGrant("the code or refresh token was already used; everything issued from it is revoked")
	case errors.Is(err, storage.ErrInvalidGrant):
		return errInvalidGrant("the code or refresh token is unknown, expired or revoked, or was issued to another client, " +
			"redirect URI or code_challenge")
	case errors.Is(err, storage.ErrInvalidScope):
		return errInvalidScope("a refresh may narrow the scope granted, never widen it")
	}
	return nil
}

// writeOAuthError answers a token, revocation or introspection request with
// an RFC 6749 section 5.2 error.
func writeOAuthError(c echo.Context, e *oauthError) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="wotkit"`)
	}
	return c.JSON(e.Status, map[string]string{"error": e.Name, "error_description": e.Description})
}

// serverError logs cause and returns server_error, which says nothing of it.
func (o *oauthServer) serverError(c echo.Context, cause error) *oauthError {
	o.log.Error("oauth request failed", "path", c.Request().URL.Path, "error", cause)
	return &oauthError{"server_error", "the server could not complete the request", http.StatusInternalServerError}
}

// routes registers the authorization server's endpoints.
func (p *Portal) oauthRoutes(e *echo.Echo) {
	e.GET("/api/oauth/authorize", p.authorize, p.loadSession)
	e.POST("/api/oauth/authorize", p.consent, p.loadSession, p.requireLogin)
	e.POST("/api/oauth/token", p.token)
	e.POST("/api/oauth/revoke", p.revoke)
	e.POST("/api/oauth/introspect", p.introspect)
	e.GET("/.well-known/oauth-authorization-server", p.metadata)
}

// clientAuthParams are the parameters of client authentication in a form.
var clientAuthParams = []string{"client_id", "client_secret"}

// clientForm returns the form body of a token, revocation or introspection
// request, whose parameters are names and clientAuthParams. One of those in
// the URL query is refused, since logs and proxies keep URLs (RFC 6749
// section 2.3.1 keeps client credentials out of them), and so is one given
// twice (section 3.2). Any other query parameter belongs to the endpoint's
// URI and is left alone (section 3.2).
func clientForm(c echo.Context, names ...string) (url.Values, *oauthError) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
			return nil, errInvalidRequest(fmt.Sprintf("the body may have at most %d bytes", mbe.Limit))
		}
		return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	names = slices.Concat(names, clientAuthParams)
	if n := inQuery(r, names); n != "" {
		return nil, errInvalidRequest(fmt.Sprintf("parameter %s must be sent in the request body, never in the URL", n))
	}
	for _, n := range names {
		if len(r.PostForm[n]) > 1 {
			return nil, errInvalidRequest(fmt.Sprintf("parameter %s is given more than once", n))
		}
	}
	return r.PostForm, nil
}

// requireClient authenticates the client of a token, revocation or
// introspection request: HTTP Basic, whose parts are form-urlencoded (RFC
// 6749 section 2.3.1), or client_id and client_secret in the form (read by
// clientForm); never both.
func (o *oauthServer) requireClient(r *http.Request, form url.Values) (storage.App, *oauthError) {
	id, secret, basic := r.BasicAuth()
	formID := form.Get("client_id")
	if basic {
		if form.Get("client_secret") != "" { // empty: omitted (RFC 6749 section 3.2)
			return storage.App{}, errInvalidRequest("use one client authentication method, not Basic and client_secret both")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return storage.App{}, errInvalidClient
		}
		if formID != "" && formID != id {
			return storage.App{}, errInvalidRequest("client_id differs from the authenticated client")
		}
	} else {
		id, secret = formID, form.Get("client_secret")
	}
	if id == "" {
		return storage.App{}, errInvalidClient
	}
	app, err := o.store.AuthenticateClient(id, secret)
	if err != nil {
		if !errors.Is(err, storage.ErrBadCredentials) {
			o.log.Error("authenticate client", "client_id", id, "error", err)
		}
		return storage.App{}, errInvalidClient
	}
	return app, nil
}
