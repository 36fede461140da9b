package oauthweb

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// passwordForm is what the change-password page shows.
type passwordForm struct {
	Error string
	Done  string
}

func (p *Portal) passwordPage(c echo.Context) error {
	return p.render(c, http.StatusOK, "password", passwordForm{})
}

// changePassword checks the current password (throttled as a login), sets the
// new one and ends every other web session of the user.
func (p *Portal) changePassword(c echo.Context) error {
	body, err := bodyForm(c, "current_password", "new_password", "new_password_again")
	if err != nil {
		return err
	}
	s := sessionOf(c)
	addr := c.RealIP()
	fail := func(status int, msg string) error {
		return p.render(c, status, "password", passwordForm{Error: msg})
	}
	_, wait, err := p.checkPassword(s.user.Name, body.Get("current_password"), addr)
	if wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfter(wait))
		return fail(http.StatusTooManyRequests,
			fmt.Sprintf("Too many wrong passwords. Try again in %s.", waitText(wait)))
	}
	if errors.Is(err, storage.ErrBadCredentials) {
		return fail(http.StatusOK, "The current password is wrong.")
	}
	if err != nil {
		return internalError(err)
	}
	next := body.Get("new_password")
	if err := storage.ValidatePassword(next); err != nil {
		return fail(http.StatusBadRequest, "The new password "+reason(err)+".")
	}
	if next != body.Get("new_password_again") {
		return fail(http.StatusBadRequest, "The two new passwords differ.")
	}
	ended, err := p.store.SetPassword(s.user.Name, next, s.token)
	if err != nil {
		return internalError(err)
	}
	p.log.Info("password changed", "user", s.user.Name, "web_sessions_ended", ended)
	done := "Your password has been changed."
	if ended > 0 {
		done += fmt.Sprintf(" %d other signed-in browser(s) have been signed out.", ended)
	}
	return p.render(c, http.StatusOK, "password", passwordForm{Done: done})
}
