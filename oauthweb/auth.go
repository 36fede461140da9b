package oauthweb

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// Ways a credential can act for a user, as GET /api/v1/me names them.
const (
	viaUser  = "user"  // the user's own name and password
	viaKey   = "key"   // a key id and key password
	viaToken = "token" // an OAuth2 access token
)

// principal is who an API request acts for, and through which credential.
// Rights is what the credential may do: everything for the user's password,
// a key's permissions, a token's scope. The zero value allows nothing.
type principal struct {
	User     storage.User
	Via      string
	Rights   storage.Scope
	ClientID string // when Via is viaToken: the application the token was issued to
}

// keyRights is what a key with the given permissions may do.
func keyRights(p storage.Permission) storage.Scope {
	if p == storage.ReadOnly {
		return storage.ScopeRead
	}
	return storage.ScopeAll
}

// permissionsName spells rights as key permissions are spelled, with
// "write-only" for a token granted the write scope alone.
func permissionsName(r storage.Scope) string {
	switch r {
	case storage.ScopeAll:
		return storage.ReadWrite.String()
	case storage.ScopeRead:
		return storage.ReadOnly.String()
	case storage.ScopeWrite:
		return "write-only"
	}
	return "none"
}

const ctxPrincipal = "wotkit.principal"

func principalOf(c echo.Context) principal {
	pr, _ := c.Get(ctxPrincipal).(principal)
	return pr
}

// errNoCredential says a request carries no credential of a scheme's kind.
var errNoCredential = errors.New("no credential of this kind")

// credentialScheme recognises and checks one kind of credential.
type credentialScheme interface {
	// authenticate returns errNoCredential when the request carries none of its
	// kind, an *httpError when it carries a bad one.
	authenticate(c echo.Context) (principal, error)
}

func unauthorized(msg string) *httpError {
	return newError(http.StatusUnauthorized, msg,
		"use HTTP Basic with your user name and password or with a key id and key password, or an OAuth2 access token as a Bearer token")
}

// authenticateAPI lets a request through with the first scheme that
// recognises its credential, and answers 401 when none does.
func (p *Portal) authenticateAPI(next echo.HandlerFunc) echo.HandlerFunc {
	schemes := []credentialScheme{basicScheme{p}, bearerScheme{p}}
	return func(c echo.Context) error {
		r := c.Request()
		if r.Header.Get("Authorization") != "" && r.URL.Query().Has(accessTokenParam) {
			return newError(http.StatusBadRequest, "two credentials",
				"send either an Authorization header or the access_token parameter, not both") // RFC 6750 section 2
		}
		for _, s := range schemes {
			pr, err := s.authenticate(c)
			if errors.Is(err, errNoCredential) {
				continue
			}
			if err != nil {
				return err
			}
			c.Set(ctxPrincipal, pr)
			return next(c)
		}
		return unauthorized("authentication required")
	}
}

// requireOwnPassword lets through only requests made with the user's own
// password: keys and tokens may not manage keys, applications or grants.
func requireOwnPassword(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if principalOf(c).Via != viaUser {
			return newError(http.StatusForbidden, "this needs the user's own password",
				"keys, applications and grants are managed with HTTP Basic and the user's name and password, never with a key or a token")
		}
		return next(c)
	}
}

// basicScheme is HTTP Basic: a key id (upper case, starting with 'K') and key
// password, or a user name (lower case) and the user's password. Passwords
// are throttled as logins are.
type basicScheme struct{ p *Portal }

func (b basicScheme) authenticate(c echo.Context) (principal, error) {
	r := c.Request()
	name, password, ok := r.BasicAuth()
	if !ok {
		if h := r.Header.Get("Authorization"); len(h) >= 6 && strings.EqualFold(h[:6], "basic ") {
			return principal{}, unauthorized("malformed Basic credentials")
		}
		return principal{}, errNoCredential
	}
	addr := c.RealIP()
	switch {
	case strings.HasPrefix(name, "K"):
		k, owner, err := b.p.store.AuthenticateKey(name, password)
		if errors.Is(err, storage.ErrBadCredentials) {
			return principal{}, unauthorized("bad credentials")
		}
		if err != nil {
			return principal{}, internalError(err)
		}
		b.p.store.TouchKey(k.ID, addr)
		return principal{User: owner, Via: viaKey, Rights: keyRights(k.Permissions)}, nil
	case storage.ValidUserName(name):
		u, wait, err := b.p.checkPassword(name, password, addr)
		if wait > 0 {
			return principal{}, &httpError{Status: http.StatusTooManyRequests, Message: "too many failed logins",
				Details: []string{fmt.Sprintf("try again in %s seconds", retryAfter(wait))}, RetryAfter: wait}
		}
		if errors.Is(err, storage.ErrBadCredentials) {
			return principal{}, unauthorized("bad credentials")
		}
		if err != nil {
			return principal{}, internalError(err)
		}
		return principal{User: u, Via: viaUser, Rights: storage.ScopeAll}, nil
	}
	return principal{}, unauthorized("bad credentials")
}
