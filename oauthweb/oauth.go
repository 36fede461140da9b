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

// oauthServer is go-oauth2's manager with its unsafe defaults closed: codes
// and tokens from crypto/rand with 256 bits and a type prefix, stored only as
// hashes and consumed atomically; redirect URIs compared exactly; refresh
// tokens rotated. Only the code and refresh grants are reachable: wotkit
// serves its own endpoints and never go-oauth2's server, whose implicit,
// password and client-credentials grants are on by default.
type oauthServer struct {
	store    *storage.Store
	mgr      *manage.Manager
	issuer   string
	tokenTTL time.Duration
	consents *pendingConsents
	log      *slog.Logger
}

func newOAuthServer(store *storage.Store, issuer string, tokenTTL time.Duration, log *slog.Logger) *oauthServer {
	m := manage.NewManager()
	m.MapClientStorage(store.OAuthClients())
	m.MapTokenStorage(store.OAuthTokens())
	m.MapAuthorizeGenerate(codeGenerator{})
	m.MapAccessGenerate(tokenGenerator{})
	m.SetAuthorizeCodeExp(codeTTL)
	m.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: tokenTTL, RefreshTokenExp: refreshTTL, IsGenerateRefresh: true})
	// Rotation: every refresh returns a new refresh token and retires the old
	// one. Access tokens already issued live until they expire, so that a live
	// MQTT session is not cut by its application refreshing.
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{AccessTokenExp: tokenTTL, RefreshTokenExp: refreshTTL,
		IsGenerateRefresh: true, IsResetRefreshTime: true, IsRemoveRefreshing: true})
	m.SetValidateURIHandler(exactRedirectURI)
	m.SetExtractExtensionHandler(assignFamily)
	return &oauthServer{store: store, mgr: m, issuer: issuer, tokenTTL: tokenTTL, consents: newPendingConsents(), log: log}
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

// assignFamily gives a new authorization code its family id; the tokens
// issued from it inherit it, so that a replay can revoke them all.
func assignFamily(_ *oauth2.TokenGenerateRequest, ti oauth2.ExtendableTokenInfo) {
	ext := ti.GetExtension()
	if ext.Get(storage.FamilyExtension) == "" {
		ext.Set(storage.FamilyExtension, storage.NewFamily())
	}
	ti.SetExtension(ext)
}

// codeGenerator makes authorization codes: 256 bits, prefixed.
type codeGenerator struct{}

func (codeGenerator) Token(context.Context, *oauth2.GenerateBasic) (string, error) {
	return storage.NewSecret(storage.PrefixAuthCode), nil
}

// tokenGenerator makes access and refresh tokens: 256 bits each, prefixed.
type tokenGenerator struct{}

func (tokenGenerator) Token(_ context.Context, _ *oauth2.GenerateBasic, refresh bool) (string, string, error) {
	r := ""
	if refresh {
		r = storage.NewSecret(storage.PrefixRefreshToken)
	}
	return storage.NewSecret(storage.PrefixAccessToken), r, nil
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

// grantError maps what go-oauth2 and storage return on the token endpoint to
// the RFC's error, so that a bad code or verifier is invalid_grant, never 500.
func grantError(err error) *oauthError {
	switch {
	case errors.Is(err, storage.ErrReplayed):
		return errInvalidGrant("the code or refresh token was already used; everything issued from it is revoked")
	case errors.Is(err, oauth2errors.ErrInvalidAuthorizeCode):
		return errInvalidGrant("the code is unknown, expired, or was issued to another client or redirect URI")
	case errors.Is(err, oauth2errors.ErrMissingCodeVerifier):
		return errInvalidGrant("code_verifier is required: the authorization request sent a code_challenge")
	case errors.Is(err, oauth2errors.ErrInvalidCodeChallenge):
		return errInvalidGrant("code_verifier does not match the code_challenge")
	case errors.Is(err, oauth2errors.ErrInvalidRedirectURI):
		return errInvalidGrant("redirect_uri is not registered for this client")
	case errors.Is(err, oauth2errors.ErrInvalidRefreshToken), errors.Is(err, oauth2errors.ErrExpiredRefreshToken):
		return errInvalidGrant("the refresh token is unknown, expired or revoked")
	case errors.Is(err, oauth2errors.ErrInvalidClient):
		return errInvalidClient
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

// requireClient authenticates the client of a token, revocation or
// introspection request: HTTP Basic, whose parts are form-urlencoded (RFC
// 6749 section 2.3.1), or client_id and client_secret in the form; never both.
// It returns the application and the secret it authenticated with.
func (o *oauthServer) requireClient(c echo.Context) (storage.App, string, *oauthError) {
	r := c.Request()
	id, secret, basic := r.BasicAuth()
	formID := c.FormValue("client_id")
	if basic {
		if r.PostForm.Has("client_secret") {
			return storage.App{}, "", errInvalidRequest("use one client authentication method, not Basic and client_secret both")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return storage.App{}, "", errInvalidClient
		}
		if formID != "" && formID != id {
			return storage.App{}, "", errInvalidRequest("client_id differs from the authenticated client")
		}
	} else {
		id, secret = formID, c.FormValue("client_secret")
	}
	if id == "" {
		return storage.App{}, "", errInvalidClient
	}
	app, err := o.store.AuthenticateClient(id, secret)
	if err != nil {
		if !errors.Is(err, storage.ErrBadCredentials) {
			o.log.Error("authenticate client", "client_id", id, "error", err)
		}
		return storage.App{}, "", errInvalidClient
	}
	return app, secret, nil
}

// formOnly refuses parameters that arrive more than once (RFC 6749 section 3.2).
func formOnly(c echo.Context, names ...string) *oauthError {
	form, err := c.FormParams()
	if err != nil {
		return errInvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	for _, n := range names {
		if len(form[n]) > 1 {
			return errInvalidRequest(fmt.Sprintf("parameter %s is given more than once", n))
		}
	}
	return nil
}
