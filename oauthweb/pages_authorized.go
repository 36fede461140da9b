package oauthweb

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// grantView is a grant with the application it was made to.
type grantView struct {
	storage.Grant
	App storage.App
}

// Scopes lists the grant's scope word by word, for the page's badges.
func (g grantView) Scopes() []string { return strings.Fields(g.Scope.String()) }

// grantsOf returns the grants user has made, each with its application, for
// the page and the API.
func (p *Portal) grantsOf(user string) ([]grantView, error) {
	grants, err := p.store.GrantsOf(user)
	if err != nil {
		return nil, internalError(err)
	}
	out := make([]grantView, 0, len(grants))
	for _, g := range grants {
		a, err := p.store.App(g.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted, with its grants, since GrantsOf read them
		}
		if err != nil {
			return nil, internalError(err)
		}
		out = append(out, grantView{Grant: g, App: a})
	}
	return out, nil
}

// withdrawGrant withdraws user's grant to an application; storage deletes its
// tokens and tells the broker to end their sessions. No grant is a 404.
func (p *Portal) withdrawGrant(user, clientID, via string) error {
	err := p.store.RevokeGrant(user, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return newError(http.StatusNotFound, "no such grant", "you have not authorized an application with client id "+clientID)
	}
	if err != nil {
		return internalError(err)
	}
	p.log.Info("grant revoked", "user", user, "client_id", clientID, "via", via)
	return nil
}

func (p *Portal) authorizedPage(c echo.Context) error {
	grants, err := p.grantsOf(sessionOf(c).user.Name)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "authorized", struct {
		Grants  []grantView
		Revoked bool
	}{grants, c.QueryParam("revoked") != ""})
}

func (p *Portal) revokeGrant(c echo.Context) error {
	if err := p.withdrawGrant(sessionOf(c).user.Name, c.Param("client_id"), "portal"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/authorized?revoked=1")
}
