package oauthweb

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// appForm is what the New Application page shows.
type appForm struct {
	Name, Description string
	RedirectURIs      string // one per line, as typed
	Public            bool
	Error             string
}

// appEndpoints is what an application's developer needs besides its
// credentials: where to send users and codes, and where to connect.
type appEndpoints struct {
	Authorize, Token string
	MQTT             string // host:port
}

// appSecret is what the page after an application's registration or secret
// reset shows, the only time the client secret is shown.
type appSecret struct {
	App       storage.App
	Secret    string // empty for a public client
	Reset     bool
	Endpoints appEndpoints
}

// appDetail is what the application and confirmation pages show.
type appDetail struct {
	App       storage.App
	CanChange bool // the viewer owns it or is an administrator
	Endpoints appEndpoints
}

func (p *Portal) appsPage(c echo.Context) error {
	apps, err := p.store.Apps()
	if err != nil {
		return internalError(err)
	}
	return p.render(c, http.StatusOK, "apps", struct {
		Apps    []storage.App
		Deleted bool
	}{apps, c.QueryParam("deleted") != ""})
}

func (p *Portal) newAppPage(c echo.Context) error {
	return p.render(c, http.StatusOK, "app_new", appForm{})
}

func (p *Portal) createApp(c echo.Context) error {
	s := sessionOf(c)
	form := appForm{
		Name:         strings.TrimSpace(c.FormValue("name")),
		Description:  strings.TrimSpace(c.FormValue("description")),
		RedirectURIs: c.FormValue("redirect_uris"),
		Public:       c.FormValue("public") != "",
	}
	a, secret, err := p.store.CreateApp(s.user.Name, storage.NewApp{Name: form.Name, Description: form.Description,
		RedirectURIs: lines(form.RedirectURIs), Public: form.Public})
	if status := refusal(err); status != 0 {
		form.Error = formError(err)
		return p.render(c, status, "app_new", form)
	}
	if err != nil {
		return internalError(err)
	}
	p.log.Info("app created", "user", s.user.Name, "client_id", a.ClientID, "via", "portal")
	return p.render(c, http.StatusOK, "app_secret", appSecret{App: a, Secret: secret, Endpoints: p.appEndpoints()})
}

func (p *Portal) appPage(c echo.Context) error {
	a, err := p.appParam(c)
	if err != nil {
		return err
	}
	u := sessionOf(c).user
	return p.render(c, http.StatusOK, "app_view", appDetail{App: a, CanChange: a.Owner == u.Name || u.Admin, Endpoints: p.appEndpoints()})
}

// appToReset is appToChange for a confidential client: a public one has no
// secret to reset.
func (p *Portal) appToReset(c echo.Context) (storage.App, error) {
	a, err := p.appToChange(c, sessionOf(c).user)
	if err == nil && a.Public {
		return storage.App{}, newError(http.StatusBadRequest, "A public client has no client secret to reset.")
	}
	return a, err
}

func (p *Portal) resetAppSecretPage(c echo.Context) error {
	a, err := p.appToReset(c)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "app_reset", appDetail{App: a})
}

// resetAppSecret gives the application a new client secret, shown once in
// this answer; the old one stops working at once.
func (p *Portal) resetAppSecret(c echo.Context) error {
	a, err := p.appToReset(c)
	if err != nil {
		return err
	}
	a, secret, err := p.store.ResetAppSecret(a.ClientID)
	if err != nil {
		return internalError(err)
	}
	p.log.Info("app secret reset", "user", sessionOf(c).user.Name, "client_id", a.ClientID, "via", "portal")
	return p.render(c, http.StatusOK, "app_secret", appSecret{App: a, Secret: secret, Reset: true, Endpoints: p.appEndpoints()})
}

func (p *Portal) deleteAppPage(c echo.Context) error {
	a, err := p.appToChange(c, sessionOf(c).user)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "app_delete", appDetail{App: a})
}

// deleteApp removes the application, from the portal.
func (p *Portal) deleteApp(c echo.Context) error {
	if err := p.deleteAppOf(c, sessionOf(c).user, "portal"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/apps?deleted=1")
}

// deleteAppOf deletes the application in the path with its grants and tokens
// if u may change it, for the portal and the API (via); storage tells the
// broker to end its sessions.
func (p *Portal) deleteAppOf(c echo.Context, u storage.User, via string) error {
	a, err := p.appToChange(c, u)
	if err != nil {
		return err
	}
	if err := p.store.DeleteApp(a.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internalError(err)
	}
	p.log.Info("app deleted", "user", u.Name, "client_id", a.ClientID, "owner", a.Owner, "via", via)
	return nil
}

func (p *Portal) appEndpoints() appEndpoints {
	return appEndpoints{Authorize: p.oauth.issuer + "/api/oauth/authorize", Token: p.oauth.issuer + "/api/oauth/token",
		MQTT: p.mqttHost + ":" + p.mqttPort}
}

// lines returns the non-blank lines of a text area, trimmed.
func lines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if l := strings.TrimSpace(line); l != "" {
			out = append(out, l)
		}
	}
	return out
}
