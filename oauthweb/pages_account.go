package oauthweb

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// accountForm is what the sign-up and login pages show.
type accountForm struct {
	Username string
	Next     string
	Error    string
}

func (p *Portal) home(c echo.Context) error {
	if sessionOf(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/keys")
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

func (p *Portal) signupClosed() error {
	return newError(http.StatusForbidden,
		"Sign-up is closed on this server. Ask its administrator for an account.")
}

func (p *Portal) signupPage(c echo.Context) error {
	if !p.cfg.Signup {
		return p.signupClosed()
	}
	p.preSession(c)
	return p.render(c, http.StatusOK, "signup", accountForm{})
}

func (p *Portal) signup(c echo.Context) error {
	if !p.cfg.Signup {
		return p.signupClosed()
	}
	if err := p.checkPreCSRF(c); err != nil {
		return err
	}
	body, err := bodyForm(c, "password")
	if err != nil {
		return err
	}
	name := strings.TrimSpace(body.Get("username"))
	form := accountForm{Username: name}
	fail := func(status int, msg string) error {
		form.Error = msg
		return p.render(c, status, "signup", form)
	}
	if !storage.ValidUserName(name) {
		return fail(http.StatusBadRequest, "A user name has 4 to 32 characters: lower-case letters, digits, '-' and '_', starting with a letter.")
	}
	if err := storage.ValidatePassword(body.Get("password")); err != nil {
		return fail(http.StatusBadRequest, "The password "+reason(err)+".")
	}
	u, err := p.store.CreateUser(storage.NewUser{Name: name, Password: body.Get("password"), AdminIfFirst: true})
	if errors.Is(err, storage.ErrExists) {
		return fail(http.StatusConflict, "That user name is taken.")
	}
	if err != nil {
		return internalError(err)
	}
	p.log.Info("user signed up", "user", u.Name, "admin", u.Admin, "addr", c.RealIP())
	if err := p.startSession(c, u.Name); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/keys")
}

func (p *Portal) loginPage(c echo.Context) error {
	p.preSession(c)
	return p.render(c, http.StatusOK, "login", accountForm{Next: safeNext(c.QueryParam("next"))})
}

func (p *Portal) login(c echo.Context) error {
	if err := p.checkPreCSRF(c); err != nil {
		return err
	}
	body, err := bodyForm(c, "password")
	if err != nil {
		return err
	}
	name := strings.TrimSpace(body.Get("username"))
	form := accountForm{Username: name, Next: safeNext(body.Get("next"))}
	addr := c.RealIP()
	u, wait, err := p.checkPassword(name, body.Get("password"), addr)
	if wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfter(wait))
		form.Error = fmt.Sprintf("Too many failed logins. Try again in %s.", waitText(wait))
		return p.render(c, http.StatusTooManyRequests, "login", form)
	}
	if errors.Is(err, storage.ErrBadCredentials) {
		p.log.Info("login failed", "user", throttleAccount(name), "addr", addr)
		form.Error = "Wrong user name or password."
		return p.render(c, http.StatusOK, "login", form)
	}
	if err != nil {
		return internalError(err)
	}
	if err := p.startSession(c, u.Name); err != nil {
		return err
	}
	p.log.Info("user logged in", "user", u.Name, "addr", addr)
	if form.Next != "" {
		return c.Redirect(http.StatusSeeOther, form.Next)
	}
	return c.Redirect(http.StatusSeeOther, "/keys")
}

func (p *Portal) logoutPage(c echo.Context) error {
	if sessionOf(c) == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return p.render(c, http.StatusOK, "logout", nil)
}

func (p *Portal) logout(c echo.Context) error {
	s := sessionOf(c)
	if err := p.store.DeleteWebSession(s.token); err != nil {
		return internalError(err)
	}
	c.SetCookie(p.cookie(sessionCookie, "", -1))
	p.log.Info("user logged out", "user", s.user.Name)
	return c.Redirect(http.StatusSeeOther, "/login")
}

// bodyForm returns the fields of a form's body, never those of its URL's
// query, and refuses (400) a request whose query carries one of secrets:
// logs, browser history and Referer headers keep URLs.
func bodyForm(c echo.Context, secrets ...string) (url.Values, error) {
	if err := readForm(c); err != nil {
		return nil, err
	}
	r := c.Request()
	if name := inQuery(r, secrets); name != "" {
		return nil, newError(http.StatusBadRequest,
			"A password must be sent in the body of the form, never in its address.",
			"the field "+name+" is in the URL's query")
	}
	return r.PostForm, nil
}

// readForm parses the request's form, its body included: 413 for a body over
// maxBodyBytes, 400 for one that cannot be read as a form.
func readForm(c echo.Context) error {
	if _, err := c.FormParams(); err != nil {
		if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
			return asHTTPError(err)
		}
		return &httpError{Status: http.StatusBadRequest, Message: "The form could not be read.", Cause: err}
	}
	return nil
}

// inQuery returns the first of names that r's URL query carries, or "":
// logs, proxies, browser history and Referer headers keep URLs, so a form's
// secrets belong in its body.
func inQuery(r *http.Request, names []string) string {
	query := r.URL.Query()
	for _, name := range names {
		if query.Has(name) {
			return name
		}
	}
	return ""
}

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return fmt.Sprint(waitSeconds(d))
}

// waitSeconds is d in whole seconds, rounded up.
func waitSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// waitText says how long d is, rounded up, for people.
func waitText(d time.Duration) string {
	secs := waitSeconds(d)
	switch {
	case secs <= 1:
		return "1 second"
	case secs < 120:
		return fmt.Sprintf("%d seconds", secs)
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
}

// formError is what a form says about an ErrInvalid error: its reason as a sentence.
func formError(err error) string {
	msg := reason(err)
	r, size := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[size:] + "."
}

// reason returns what an ErrInvalid or ErrLimit error says is wrong, without its context.
func reason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{storage.ErrInvalid, storage.ErrLimit} {
		if i := strings.LastIndex(msg, sentinel.Error()+": "); i >= 0 {
			return msg[i+len(sentinel.Error())+2:]
		}
	}
	return msg
}

// refusal returns the status of a storage error that the user's input
// caused and whose reason may be shown: 400 for input that breaks a rule, 403
// for a per-user limit reached; 0 for any other error.
func refusal(err error) int {
	switch {
	case errors.Is(err, storage.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, storage.ErrLimit):
		return http.StatusForbidden
	}
	return 0
}

// apiRefusal answers, in the API, a storage error that the request's
// document caused: 400 "bad WHAT" or 403 "limit reached", with the reason;
// nil for any other error.
func apiRefusal(err error, what string) error {
	switch status := refusal(err); status {
	case http.StatusBadRequest:
		return newError(status, "bad "+what, reason(err))
	case http.StatusForbidden:
		return newError(status, "limit reached", reason(err))
	}
	return nil
}
