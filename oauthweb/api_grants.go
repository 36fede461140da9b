package oauthweb

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// apiGrant is a grant as the API shows it: which application, what scope,
// when it was made and last used.
type apiGrant struct {
	ClientID string     `json:"client_id"`
	Name     string     `json:"name"`
	Scope    string     `json:"scope"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used"`
}

func (p *Portal) apiListGrants(c echo.Context) error {
	grants, err := p.grantsOf(principalOf(c).User.Name)
	if err != nil {
		return err
	}
	out := make([]apiGrant, 0, len(grants))
	for _, g := range grants {
		out = append(out, apiGrant{ClientID: g.ClientID, Name: g.App.Name, Scope: g.Scope.String(),
			Created: g.Created, LastUsed: lastUsed(g.LastUsed)})
	}
	return c.JSON(http.StatusOK, out)
}

func (p *Portal) apiRevokeGrant(c echo.Context) error {
	if err := p.withdrawGrant(principalOf(c).User.Name, c.Param("client_id"), "api"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
