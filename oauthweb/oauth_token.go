package oauthweb

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// tokenResponse is RFC 6749 section 5.1's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// token handles POST /api/oauth/token: the authorization_code and
// refresh_token grants, for an authenticated client.
func (p *Portal) token(c echo.Context) error {
	ti, e := p.grant(c)
	gt := c.FormValue("grant_type")
	if gt != "authorization_code" && gt != "refresh_token" {
		gt = "other" // the label takes no client-chosen values
	}
	if e != nil {
		p.cfg.Metrics.TokenRequest(gt, e.Name)
		return writeOAuthError(c, e)
	}
	p.cfg.Metrics.TokenRequest(gt, "ok")
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: ti.GetAccess(), TokenType: "bearer", ExpiresIn: int64(ti.GetAccessExpiresIn() / time.Second),
		RefreshToken: ti.GetRefresh(), Scope: ti.GetScope(),
	})
}

// grant runs the grant a token request asks for.
func (p *Portal) grant(c echo.Context) (oauth2.TokenInfo, *oauthError) {
	o := p.oauth
	if e := formOnly(c, "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret"); e != nil {
		return nil, e
	}
	app, secret, e := o.requireClient(c)
	if e != nil {
		return nil, e
	}
	ctx := c.Request().Context()
	var ti oauth2.TokenInfo
	var err error
	switch c.FormValue("grant_type") {
	case "authorization_code":
		if c.FormValue("code") == "" {
			return nil, errInvalidRequest("code is required")
		}
		ti, err = o.mgr.GenerateAccessToken(ctx, oauth2.AuthorizationCode, &oauth2.TokenGenerateRequest{
			ClientID: app.ClientID, ClientSecret: secret, Code: c.FormValue("code"),
			RedirectURI: c.FormValue("redirect_uri"), CodeVerifier: c.FormValue("code_verifier"), Request: c.Request(),
		})
	case "refresh_token":
		scope, e := o.refreshScope(c, app, c.FormValue("refresh_token"), c.FormValue("scope"))
		if e != nil {
			return nil, e
		}
		ti, err = o.mgr.RefreshAccessToken(ctx, &oauth2.TokenGenerateRequest{
			ClientID: app.ClientID, ClientSecret: secret, Refresh: c.FormValue("refresh_token"),
			Scope: scope, Request: c.Request(),
		})
	case "":
		return nil, errInvalidRequest("grant_type is required")
	default:
		return nil, &oauthError{"unsupported_grant_type", "grant_type must be authorization_code or refresh_token", http.StatusBadRequest}
	}
	if err != nil {
		if ge := grantError(err); ge != nil {
			p.log.Info("oauth token refused", "client_id", app.ClientID, "error", ge.Name, "reason", err)
			return nil, ge
		}
		return nil, o.serverError(c, err)
	}
	return ti, nil
}

// refreshScope checks a refresh request before the token is consumed: the
// refresh token must belong to the authenticated client (go-oauth2 does not
// check), and a requested scope may narrow the original but never widen it
// (RFC 6749 section 6). It returns the scope to issue.
func (o *oauthServer) refreshScope(c echo.Context, app storage.App, refresh, requested string) (string, *oauthError) {
	if refresh == "" {
		return "", errInvalidRequest("refresh_token is required")
	}
	info, err := o.store.IntrospectToken(refresh)
	if err != nil {
		return "", o.serverError(c, fmt.Errorf("look up the refresh token: %w", err))
	}
	if info.Kind != "refresh_token" || info.ClientID != app.ClientID {
		return "", errInvalidGrant("the refresh token is unknown, expired, revoked, or was issued to another client")
	}
	if requested == "" {
		return info.Scope, nil
	}
	original, err1 := storage.ParseScope(info.Scope)
	want, err2 := storage.ParseScope(requested)
	if err1 != nil || err2 != nil {
		return "", errInvalidScope("scope must be read, write or all")
	}
	if !original.Has(want) {
		return "", errInvalidScope("a refresh may not widen the scope granted (" + original.String() + ")")
	}
	return want.String(), nil
}
