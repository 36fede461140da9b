package oauthweb

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wotkit/wotkit/storage"
)

// accessTokenParam is the query parameter WoTKit accepts an access token in
// (RFC 6750 section 2.3). It is read, never written into a link, a redirect or
// a log line: handleError logs the path alone.
const accessTokenParam = "access_token"

// bearerScheme is an OAuth2 access token, sent as "Authorization: Bearer
// TOKEN" (RFC 6750 section 2.1) or in the access_token query parameter. The
// request acts for the user who granted the token, within its scope.
type bearerScheme struct{ p *Portal }

func (b bearerScheme) authenticate(c echo.Context) (principal, error) {
	token, err := bearerToken(c.Request())
	if err != nil {
		return principal{}, err
	}
	at, err := b.p.store.AuthenticateToken(token)
	switch {
	case errors.Is(err, storage.ErrTokenExpired):
		return principal{}, invalidToken("the access token has expired",
			"get a new access token with the refresh token, or ask the user to authorize the application again")
	case errors.Is(err, storage.ErrBadCredentials):
		return principal{}, invalidToken("bad access token", "the token is unknown or was revoked")
	case err != nil:
		return principal{}, internalError(err)
	}
	u, err := b.p.store.User(at.User)
	if errors.Is(err, storage.ErrNotFound) {
		return principal{}, invalidToken("bad access token", "the user who granted the token no longer exists")
	}
	if err != nil {
		return principal{}, internalError(err)
	}
	b.p.store.TouchGrant(at.User, at.ClientID)
	return principal{User: u, Via: viaToken, Rights: at.Scope, ClientID: at.ClientID}, nil
}

// bearerToken returns the access token a request carries, errNoCredential if
// none, or a 400 for an empty one. (authenticateAPI has refused a request
// that carries an Authorization header and the parameter both.)
func bearerToken(r *http.Request) (string, error) {
	scheme, header, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	inHeader := strings.EqualFold(scheme, "bearer")
	query, inQuery := r.URL.Query()[accessTokenParam]
	switch {
	case inQuery && (len(query) != 1 || query[0] == ""):
		return "", newError(http.StatusBadRequest, "bad access_token parameter", "give exactly one access_token")
	case inQuery:
		return query[0], nil
	case inHeader && strings.TrimSpace(header) == "":
		return "", invalidToken("malformed Bearer credentials", "send Authorization: Bearer followed by the access token")
	case inHeader:
		return strings.TrimSpace(header), nil
	}
	return "", errNoCredential
}

// invalidToken is the 401 for a bad, expired or revoked access token.
func invalidToken(msg, detail string) *httpError {
	e := newError(http.StatusUnauthorized, msg, detail)
	e.BearerError = "invalid_token"
	return e
}

// bearerChallenge is the Bearer WWW-Authenticate challenge of a 401, with an
// error code only when a token was sent (RFC 6750 section 3.1).
func bearerChallenge(errorCode string) string {
	if errorCode == "" {
		return `Bearer realm="wotkit"`
	}
	return `Bearer realm="wotkit", error="` + errorCode + `"`
}
