package oauthweb

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// httpError is an error with what a client may be told about it: a status, a
// message for people and details for developers. Its cause is logged, never
// shown.
type httpError struct {
	Status     int
	Message    string
	Details    []string
	RetryAfter time.Duration // for 429
	// BearerError is, for a 401 that refused a bearer token, the error code of
	// the Bearer challenge (RFC 6750 section 3.1), e.g. "invalid_token".
	BearerError string
	Cause       error
}

func (e *httpError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *httpError) Unwrap() error { return e.Cause }

// newError returns an httpError with a message and optional developer details.
func newError(status int, message string, details ...string) *httpError {
	return &httpError{Status: status, Message: message, Details: details}
}

// internalError hides cause from the client and keeps it for the log.
func internalError(cause error) *httpError {
	return &httpError{Status: http.StatusInternalServerError, Message: "internal server error",
		Details: []string{"the server could not complete the request; the cause is in its log"}, Cause: cause}
}

// apiErrorBody is WoTKit's error document.
type apiErrorBody struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Status           int      `json:"status"`
	Code             int      `json:"code"`
	Message          string   `json:"message"`
	DeveloperMessage []string `json:"developerMessage"`
}

// asHTTPError turns any error a handler returned into what may be shown.
func asHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var ee *echo.HTTPError
	if errors.As(err, &ee) && ee.Code < 500 {
		msg := strings.ToLower(http.StatusText(ee.Code))
		return newError(ee.Code, msg)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newError(http.StatusRequestEntityTooLarge, "request body too large",
			fmt.Sprintf("the body may have at most %d bytes", mbe.Limit))
	}
	return internalError(err)
}

// handleError answers an error: WoTKit's JSON document under /api/, an HTML
// page elsewhere and at the authorization endpoint, which people see in a
// browser. 500s are logged with their cause and told nothing of it.
func (p *Portal) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	he := asHTTPError(err)
	req := c.Request()
	if he.Status >= 500 {
		p.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "error", err)
	}
	h := c.Response().Header()
	if he.RetryAfter > 0 {
		h.Set("Retry-After", retryAfter(he.RetryAfter))
	}
	var werr error
	switch {
	case strings.HasPrefix(req.URL.Path, "/api/") && req.URL.Path != authorizePath:
		if he.Status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", `Basic realm="wotkit"`)
			h.Add("WWW-Authenticate", bearerChallenge(he.BearerError))
		}
		details := he.Details
		if details == nil {
			details = []string{}
		}
		body := apiErrorBody{apiErrorDetail{Status: he.Status, Message: he.Message, DeveloperMessage: details}}
		if req.Method == http.MethodHead {
			werr = c.NoContent(he.Status)
		} else {
			werr = c.JSON(he.Status, body)
		}
	default:
		werr = p.render(c, he.Status, "error", errorView{Status: he.Status, Title: http.StatusText(he.Status), Message: he.Message, Details: he.Details})
	}
	if werr != nil {
		p.log.Error("write error response", "path", req.URL.Path, "error", werr)
		if !c.Response().Committed {
			_ = c.String(he.Status, he.Message)
		}
	}
}

// errorView is what the error page shows.
type errorView struct {
	Status  int
	Title   string
	Message string
	Details []string
}
