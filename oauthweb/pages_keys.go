package oauthweb

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// keyForm is what the New Key page shows.
type keyForm struct {
	Name, Description, Permissions string
	Error                          string
}

// keySecret is what the page after a key's creation or password reset shows,
// the only time the password is shown.
type keySecret struct {
	Key      storage.Key
	Password string
	Reset    bool
	Command  string // a ready mosquitto_pub line
}

// keyDetail is what the View Key page shows.
type keyDetail struct {
	Key  storage.Key
	Live int // live MQTT sessions; -1 when unknown
}

func (p *Portal) keysPage(c echo.Context) error {
	keys, err := p.store.KeysOf(sessionOf(c).user.Name)
	if err != nil {
		return internalError(err)
	}
	return p.render(c, http.StatusOK, "keys", struct {
		Keys    []storage.Key
		Deleted bool
	}{keys, c.QueryParam("deleted") != ""})
}

func (p *Portal) newKeyPage(c echo.Context) error {
	return p.render(c, http.StatusOK, "key_new", keyForm{Permissions: storage.ReadWrite.String()})
}

func (p *Portal) createKey(c echo.Context) error {
	s := sessionOf(c)
	form := keyForm{
		Name:        strings.TrimSpace(c.FormValue("name")),
		Description: strings.TrimSpace(c.FormValue("description")),
		Permissions: c.FormValue("permissions"),
	}
	perm, err := storage.ParsePermission(form.Permissions)
	if err == nil {
		var k storage.Key
		var pw string
		k, pw, err = p.store.CreateKey(s.user.Name, storage.NewKey{Name: form.Name, Description: form.Description, Permissions: perm})
		if err == nil {
			p.log.Info("key created", "user", s.user.Name, "key", k.ID, "via", "portal")
			return p.render(c, http.StatusOK, "key_secret", p.keySecret(k, pw, false))
		}
	}
	if status := refusal(err); status != 0 {
		form.Error = formError(err)
		if form.Permissions == "" {
			form.Permissions = storage.ReadWrite.String()
		}
		return p.render(c, status, "key_new", form)
	}
	return internalError(err)
}

// ownKey returns the key named in the path if it belongs to owner (the
// signed-in user or the API caller); anyone else's key is as missing (404) as
// a key that does not exist.
func (p *Portal) ownKey(c echo.Context, owner string) (storage.Key, error) {
	k, err := p.store.Key(c.Param("id"))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && k.Owner != owner) {
		return storage.Key{}, newError(http.StatusNotFound, "no such key", "no key with id "+c.Param("id")+" belongs to you")
	}
	if err != nil {
		return storage.Key{}, internalError(err)
	}
	return k, nil
}

func (p *Portal) keyPage(c echo.Context) error {
	k, err := p.ownKey(c, sessionOf(c).user.Name)
	if err != nil {
		return err
	}
	live := -1
	if p.cfg.LiveSessions != nil {
		live = p.cfg.LiveSessions(k.ID)
	}
	return p.render(c, http.StatusOK, "key_view", keyDetail{Key: k, Live: live})
}

func (p *Portal) resetKeyPage(c echo.Context) error {
	k, err := p.ownKey(c, sessionOf(c).user.Name)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "key_reset", keyDetail{Key: k})
}

// resetKey gives the key a new password, shown once in this answer; storage
// tells the broker to end the sessions that used the old one.
func (p *Portal) resetKey(c echo.Context) error {
	s := sessionOf(c)
	k, err := p.ownKey(c, s.user.Name)
	if err != nil {
		return err
	}
	k, pw, err := p.store.ResetKeyPassword(k.ID)
	if err != nil {
		return internalError(err)
	}
	p.log.Info("key password reset", "user", s.user.Name, "key", k.ID, "via", "portal")
	return p.render(c, http.StatusOK, "key_secret", p.keySecret(k, pw, true))
}

func (p *Portal) deleteKeyPage(c echo.Context) error {
	k, err := p.ownKey(c, sessionOf(c).user.Name)
	if err != nil {
		return err
	}
	return p.render(c, http.StatusOK, "key_delete", keyDetail{Key: k})
}

// deleteKey removes the key, from the portal.
func (p *Portal) deleteKey(c echo.Context) error {
	if err := p.deleteOwnKey(c, sessionOf(c).user.Name, "portal"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/keys?deleted=1")
}

// deleteOwnKey deletes the key named in the path if it belongs to owner, for
// the portal and the API (via); storage tells the broker to end its sessions.
func (p *Portal) deleteOwnKey(c echo.Context, owner, via string) error {
	k, err := p.ownKey(c, owner)
	if err != nil {
		return err
	}
	if err := p.store.DeleteKey(k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internalError(err)
	}
	p.log.Info("key deleted", "user", owner, "key", k.ID, "via", via)
	return nil
}

// keySecret builds the once-only page, with a command line a user can paste:
// mosquitto_pub for a key that may publish, mosquitto_sub for a read-only one.
func (p *Portal) keySecret(k storage.Key, password string, reset bool) keySecret {
	conn := " -h " + p.mqttHost + " -p " + p.mqttPort + " -u " + k.ID + " -P " + password
	cmd := "mosquitto_pub" + conn + " -t " + k.Owner + "/sensor/data -m '{\"value\": 21.5}'"
	if k.Permissions == storage.ReadOnly {
		cmd = "mosquitto_sub" + conn + " -t '" + k.Owner + "/#' -v"
	}
	return keySecret{Key: k, Password: password, Reset: reset, Command: cmd}
}
