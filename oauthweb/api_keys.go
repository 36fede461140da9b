package oauthweb

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// apiKey is a key as the API shows it; KeyPassword only in the answer to POST.
type apiKey struct {
	KeyID       string     `json:"key_id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Permissions string     `json:"permissions"`
	Created     time.Time  `json:"created"`
	LastUsed    *time.Time `json:"last_used"`
	KeyPassword string     `json:"key_password,omitempty"`
}

func toAPIKey(k storage.Key) apiKey {
	return apiKey{KeyID: k.ID, Name: k.Name, Description: k.Description,
		Permissions: k.Permissions.String(), Created: k.Created, LastUsed: lastUsed(k.LastUsed)}
}

// lastUsed is a time of last use as the API shows it: null for never.
func lastUsed(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// newKeyRequest is the body of POST /api/v1/keys.
type newKeyRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Permissions string `json:"permissions"`
}

func (p *Portal) apiListKeys(c echo.Context) error {
	keys, err := p.store.KeysOf(principalOf(c).User.Name)
	if err != nil {
		return internalError(err)
	}
	out := make([]apiKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, toAPIKey(k))
	}
	return c.JSON(http.StatusOK, out)
}

func (p *Portal) apiCreateKey(c echo.Context) error {
	var req newKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	perm, err := storage.ParsePermission(req.Permissions)
	if err != nil {
		return newError(http.StatusBadRequest, "bad permissions", reason(err))
	}
	user := principalOf(c).User.Name
	k, pw, err := p.store.CreateKey(user, storage.NewKey{Name: req.Name, Description: req.Description, Permissions: perm})
	if rerr := apiRefusal(err, "key"); rerr != nil {
		return rerr
	}
	if err != nil {
		return internalError(err)
	}
	p.log.Info("key created", "user", user, "key", k.ID, "via", "api")
	out := toAPIKey(k)
	out.KeyPassword = pw
	c.Response().Header().Set("Location", "/api/v1/keys/"+k.ID)
	return c.JSON(http.StatusCreated, out)
}

func (p *Portal) apiGetKey(c echo.Context) error {
	k, err := p.ownKey(c, principalOf(c).User.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIKey(k))
}

func (p *Portal) apiDeleteKey(c echo.Context) error {
	if err := p.deleteOwnKey(c, principalOf(c).User.Name, "api"); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
