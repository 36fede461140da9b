package oauthweb

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// csrfField is the name of the hidden form field that carries the token.
const csrfField = "csrf_token"

// preSessionCookie binds the CSRF token of the login and sign-up forms,
// before there is a session.
const preSessionCookie = "wotkit_pre"

const ctxPreSession = "wotkit.pre"

// csrfToken derives a form token from a secret only this browser holds (its
// session or pre-session cookie, both HttpOnly). The derivation is one-way, so
// the token, which appears in pages, reveals nothing of the cookie.
func csrfToken(base string) string {
	sum := sha256.Sum256([]byte("wotkit csrf\x00" + base))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCSRF refuses, with 403, a form whose token (read from its body only) is
// not the one bound to base, or that a browser says comes from another site.
// A body that cannot be read is not taken for a missing token: it gets
// readForm's 413 or 400.
func checkCSRF(c echo.Context, base string) error {
	refused := newError(http.StatusForbidden,
		"This form has expired or did not come from this site. Go back, reload the page and try again.")
	if c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
		return refused
	}
	if err := readForm(c); err != nil {
		return err
	}
	got := c.Request().PostFormValue(csrfField)
	want := csrfToken(base)
	if base == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return refused
	}
	return nil
}

// preSession returns this browser's pre-session value, setting the cookie
// when it has none yet.
func (p *Portal) preSession(c echo.Context) string {
	if v := p.preSessionValue(c); v != "" {
		return v
	}
	v := storage.NewSecret("")
	c.SetCookie(p.cookie(preSessionCookie, v, 0))
	c.Set(ctxPreSession, v)
	return v
}

// preSessionValue returns the pre-session value the browser sent (or was just given).
func (p *Portal) preSessionValue(c echo.Context) string {
	if v, ok := c.Get(ctxPreSession).(string); ok {
		return v
	}
	if ck, err := c.Cookie(p.cookieName(preSessionCookie)); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	return ""
}

// checkPreCSRF checks the token of a login or sign-up form: bound to the
// pre-session cookie, or to the session when a signed-in user sent it.
func (p *Portal) checkPreCSRF(c echo.Context) error {
	if err := readForm(c); err != nil {
		return err // before the fallback below reads the form again, as empty
	}
	err := checkCSRF(c, p.preSessionValue(c))
	if s := sessionOf(c); err != nil && s != nil {
		return checkCSRF(c, s.token)
	}
	return err
}

// formCSRF is the token to put in this page's forms.
func (p *Portal) formCSRF(c echo.Context) string {
	if s := sessionOf(c); s != nil {
		return csrfToken(s.token)
	}
	if v := p.preSessionValue(c); v != "" {
		return csrfToken(v)
	}
	return ""
}
