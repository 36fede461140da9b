package oauthweb

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// revoke handles POST /api/oauth/revoke (RFC 7009): the client revokes one of
// its tokens. An unknown token, or another client's, is answered 200 too.
func (p *Portal) revoke(c echo.Context) error {
	app, token, e := p.oauth.clientToken(c)
	if e != nil {
		return writeOAuthError(c, e)
	}
	if err := p.store.RevokeToken(app.ClientID, token); err != nil {
		return writeOAuthError(c, p.oauth.serverError(c, err))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}

// introspect handles POST /api/oauth/introspect (RFC 7662) for an
// authenticated client, about its own tokens; any other token is inactive.
func (p *Portal) introspect(c echo.Context) error {
	app, token, e := p.oauth.clientToken(c)
	if e != nil {
		return writeOAuthError(c, e)
	}
	info, err := p.store.IntrospectToken(token)
	if err != nil {
		return writeOAuthError(c, p.oauth.serverError(c, err))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if !info.Active || info.ClientID != app.ClientID {
		return c.JSON(http.StatusOK, map[string]bool{"active": false})
	}
	ans := map[string]any{
		"active": true, "scope": info.Scope, "client_id": info.ClientID, "username": info.User, "sub": info.User,
		"iat": info.IssuedAt.Unix(), "iss": p.oauth.issuer, "token_type": "bearer",
	}
	if info.Kind == "refresh_token" {
		ans["token_type"] = "refresh_token"
	}
	if !info.ExpiresAt.IsZero() {
		ans["exp"] = info.ExpiresAt.Unix()
	}
	return c.JSON(http.StatusOK, ans)
}

// clientToken reads a revocation or introspection request: an authenticated
// client and the token it asks about.
func (o *oauthServer) clientToken(c echo.Context) (storage.App, string, *oauthError) {
	form, e := clientForm(c, "token", "token_type_hint")
	if e != nil {
		return storage.App{}, "", e
	}
	app, e := o.requireClient(c.Request(), form)
	if e != nil {
		return storage.App{}, "", e
	}
	token := form.Get("token")
	if token == "" {
		return storage.App{}, "", errInvalidRequest("token is required")
	}
	return app, token, nil
}

// metadata handles GET /.well-known/oauth-authorization-server (RFC 8414).
func (p *Portal) metadata(c echo.Context) error {
	iss := p.oauth.issuer
	return c.JSON(http.StatusOK, map[string]any{
		"issuer":                                        iss,
		"authorization_endpoint":                        iss + "/api/oauth/authorize",
		"token_endpoint":                                iss + "/api/oauth/token",
		"revocation_endpoint":                           iss + "/api/oauth/revoke",
		"introspection_endpoint":                        iss + "/api/oauth/introspect",
		"response_types_supported":                      []string{"code"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":              []string{"S256"},
		"scopes_supported":                              []string{"read", "write", "all"},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
	})
}
