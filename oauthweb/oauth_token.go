package oauthweb

import (
	"net/http"
	"net/url"
	"time"

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
	form, e := clientForm(c, "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope")
	var tok storage.IssuedTokens
	if e == nil {
		tok, e = p.grant(c, form)
	}
	gt := form.Get("grant_type")
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
		AccessToken: tok.Access, TokenType: "bearer", ExpiresIn: int64(tok.AccessExpiresIn / time.Second),
		RefreshToken: tok.Refresh, Scope: tok.Scope.String(),
	})
}

// grant runs the grant a token request asks for, as one storage
// transaction that checks everything before it consumes the code or refresh
// token.
func (p *Portal) grant(c echo.Context, form url.Values) (storage.IssuedTokens, *oauthError) {
	o := p.oauth
	app, e := o.requireClient(c.Request(), form)
	if e != nil {
		return storage.IssuedTokens{}, e
	}
	var tok storage.IssuedTokens
	var err error
	switch form.Get("grant_type") {
	case "authorization_code":
		if form.Get("code") == "" {
			return storage.IssuedTokens{}, errInvalidRequest("code is required")
		}
		tok, err = o.store.RedeemCode(storage.CodeRedemption{ClientID: app.ClientID, Code: form.Get("code"),
			RedirectURI: form.Get("redirect_uri"), CodeVerifier: form.Get("code_verifier"), Lifetimes: o.life})
	case "refresh_token":
		if form.Get("refresh_token") == "" {
			return storage.IssuedTokens{}, errInvalidRequest("refresh_token is required")
		}
		var scope storage.Scope // zero: the refresh token's own
		if s := form.Get("scope"); s != "" {
			if scope, err = storage.ParseScope(s); err != nil {
				return storage.IssuedTokens{}, errInvalidScope("scope must be read, write or all")
			}
		}
		tok, err = o.store.RotateRefresh(storage.RefreshRotation{ClientID: app.ClientID, Refresh: form.Get("refresh_token"),
			Scope: scope, Lifetimes: o.life})
	case "":
		return storage.IssuedTokens{}, errInvalidRequest("grant_type is required")
	default:
		return storage.IssuedTokens{}, &oauthError{"unsupported_grant_type", "grant_type must be authorization_code or refresh_token", http.StatusBadRequest}
	}
	if err != nil {
		if ge := grantError(err); ge != nil {
			p.log.Info("oauth token refused", "client_id", app.ClientID, "error", ge.Name, "reason", err)
			return storage.IssuedTokens{}, ge
		}
		return storage.IssuedTokens{}, o.serverError(c, err)
	}
	return tok, nil
}
