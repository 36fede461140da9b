package oauthweb

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// sessionCookie holds the web session token.
const sessionCookie = "wotkit_session"

const ctxSession = "wotkit.session"

// session is the signed-in user of a request.
type session struct {
	token string
	user  storage.User
}

func sessionOf(c echo.Context) *session {
	s, _ := c.Get(ctxSession).(*session)
	return s
}

// cookieName adds the __Host- prefix when cookies are secure (TLS here or at
// a proxy), which binds the cookie to this host, path / and HTTPS.
func (p *Portal) cookieName(base string) string {
	if p.cfg.SecureCookie {
		return "__Host-" + base
	}
	return base
}

// cookie returns an HttpOnly, SameSite=Lax cookie; maxAge 0 lasts the browser
// session, below 0 deletes it.
func (p *Portal) cookie(base, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: p.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.cfg.SecureCookie, SameSite: http.SameSiteLaxMode,
	}
}

// loadSession finds the request's web session, if any, and its user.
func (p *Portal) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(p.cookieName(sessionCookie))
		if err != nil || ck.Value == "" {
			return next(c)
		}
		ws, err := p.store.WebSession(ck.Value)
		if errors.Is(err, storage.ErrNotFound) {
			c.SetCookie(p.cookie(sessionCookie, "", -1))
			return next(c)
		}
		if err != nil {
			return internalError(err)
		}
		u, err := p.store.User(ws.User)
		if errors.Is(err, storage.ErrNotFound) {
			if err := p.store.DeleteWebSession(ck.Value); err != nil {
				p.log.Error("delete the web session of a deleted user", "user", ws.User, "error", err)
			}
			c.SetCookie(p.cookie(sessionCookie, "", -1))
			return next(c)
		}
		if err != nil {
			return internalError(err)
		}
		c.Set(ctxSession, &session{token: ck.Value, user: u})
		return next(c)
	}
}

// requireLogin sends a browser without a session to the login page, and
// refuses a form whose CSRF token is not bound to the session.
func (p *Portal) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := sessionOf(c)
		if s == nil {
			return toLogin(c)
		}
		if c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead {
			if err := checkCSRF(c, s.token); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// startSession signs user in on this browser, ending the session it had.
func (p *Portal) startSession(c echo.Context, user string) error {
	if old := sessionOf(c); old != nil {
		if err := p.store.DeleteWebSession(old.token); err != nil {
			return internalError(err)
		}
	}
	token, _, err := p.store.CreateWebSession(user)
	if err != nil {
		return internalError(err)
	}
	c.SetCookie(p.cookie(sessionCookie, token, int(storage.WebSessionMaxAge/time.Second)))
	p.purge.maybe(p)
	return nil
}

// toLogin sends a browser without a session to the login page; after a GET
// it comes back to the page it asked for.
func toLogin(c echo.Context) error {
	target := "/login"
	if c.Request().Method == http.MethodGet {
		target += "?next=" + url.QueryEscape(withoutAccessToken(c.Request().URL))
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// withoutAccessToken returns u's path and query without an access_token
// parameter: wotkit accepts one, as WoTKit does, but never sends it on.
func withoutAccessToken(u *url.URL) string {
	q := u.Query()
	if !q.Has(accessTokenParam) {
		return u.RequestURI()
	}
	q.Del(accessTokenParam)
	v := *u
	v.RawQuery = q.Encode()
	return v.RequestURI()
}

// safeNext keeps a post-login target only if it is a path on this site. A
// browser drops tabs and newlines from a Location, reads a backslash as a
// slash and "///host" as "//host", so "/\t/evil.example" would become
// "//evil.example": a leading "//", every control character and every
// backslash are refused, and what is left must parse with no scheme and no host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return ""
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return next
}

// purgeClock removes expired web sessions at most once an hour, on login.
type purgeClock struct {
	mu   sync.Mutex
	last time.Time
}

func (pc *purgeClock) maybe(p *Portal) {
	pc.mu.Lock()
	due := time.Since(pc.last) > time.Hour
	if due {
		pc.last = time.Now()
	}
	pc.mu.Unlock()
	if !due {
		return
	}
	if n, err := p.store.PurgeWebSessions(); err != nil {
		p.log.Error("purge expired web sessions", "error", err)
	} else if n > 0 {
		p.log.Info("purged expired web sessions", "count", n)
	}
}
