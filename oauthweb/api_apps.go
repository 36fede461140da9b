package oauthweb

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// apiApp is an application as the API shows it; ClientSecret only in the
// answer to POST, and only for a confidential client.
type apiApp struct {
	ClientID     string    `json:"client_id"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	RedirectURIs []string  `json:"redirect_uris"`
	Owner        string    `json:"owner"`
	Public       bool      `json:"public"`
	Created      time.Time `json:"created"`
	ClientSecret string    `json:"client_secret,omitempty"`
}

func toAPIApp(a storage.App) apiApp {
	uris := a.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	return apiApp{ClientID: a.ClientID, Name: a.Name, Description: a.Description, RedirectURIs: uris,
		Owner: a.Owner, Public: a.Public, Created: a.Created}
}

// newAppRequest is the body of POST /api/v1/apps.
type newAppRequest struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	RedirectURIs []string `json:"redirect_uris"`
	Public       bool     `json:"public"`
}

// apiListApps lists every registered application, as WoTKit does for any
// authenticated caller: the portal shows the same list to every user.
func (p *Portal) apiListApps(c echo.Context) error {
	apps, err := p.store.Apps()
	if err != nil {
		return internalError(err)
	}
	out := make([]apiApp, 0, len(apps))
	for _, a := range apps {
		out = append(out, toAPIApp(a))
	}
	return c.JSON(http.StatusOK, out)
}

func (p *Portal) apiCreateApp(c echo.Context) error {
	var req newAppRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	user := principalOf(c).User.Name
	a, secret, err := p.store.CreateApp(user, storage.NewApp{Name: req.Name, Description: req.Description,
		RedirectURIs: req.RedirectURIs, Public: req.Public})
	if rerr := apiRefusal(err, "application"); rerr != nil {
		return rerr
	}
	if err != nil {
		return internalError(err)
	}
	p.log.Info("app created", "user", user, "client_id", a.ClientID, "via", "api")
	out := toAPIApp(a)
	out.ClientSecret = secret
	c.Response().Header().Set("Location", "/api/v1/apps/"+a.ClientID)
	return c.JSON(http.StatusCreated, out)
}

func (p *Portal) apiGetApp(c echo.Context) error {
	a, err := p.appParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIApp(a))
}

func (p *Portal) apiDeleteApp(c echo.Context) error {
	if err := p.deleteAppOf(c, principalOf(c).User, "api"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// appParam returns the application whose client id is in the path, for the
// pages and the API; any signed-in user may see any application.
func (p *Portal) appParam(c echo.Context) (storage.App, error) {
	id := c.Param("client_id")
	a, err := p.store.App(id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.App{}, newError(http.StatusNotFound, "no such application", "no application has client id "+id)
	}
	if err != nil {
		return storage.App{}, internalError(err)
	}
	return a, nil
}

// appToChange returns the application in the path if u may reset its secret
// or delete it: its owner or an administrator. Anyone else gets 403.
func (p *Portal) appToChange(c echo.Context, u storage.User) (storage.App, error) {
	a, err := p.appParam(c)
	if err != nil {
		return storage.App{}, err
	}
	if a.Owner != u.Name && !u.Admin {
		return storage.App{}, newError(http.StatusForbidden,
			"Only the owner of this application or an administrator may change it.",
			"the application belongs to "+a.Owner)
	}
	return a, nil
}
