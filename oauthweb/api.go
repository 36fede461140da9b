package oauthweb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// apiMe answers who the credential acts for, and how; for a token, also the
// application it was issued to and its scope.
func (p *Portal) apiMe(c echo.Context) error {
	pr := principalOf(c)
	me := map[string]any{
		"user":        pr.User.Name,
		"via":         pr.Via,
		"permissions": permissionsName(pr.Rights),
		"admin":       pr.User.Admin,
	}
	if pr.Via == viaToken {
		me["client_id"], me["scope"] = pr.ClientID, pr.Rights.String()
	}
	return c.JSON(http.StatusOK, me)
}

// decodeJSON reads one JSON document into v. Unknown fields, trailing data and
// any Content-Type but application/json are refused. Requiring the type also
// keeps cross-site HTML forms (which cannot send it) away from the API.
func decodeJSON(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return newError(http.StatusUnsupportedMediaType, "the body must be JSON",
			"send Content-Type: application/json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if mbe := new(http.MaxBytesError); errors.As(err, &mbe) {
			return badJSON(err) // 413, however the body began
		}
		return newError(http.StatusBadRequest, "bad JSON", "the body must hold exactly one JSON object")
	}
	return nil
}

// badJSON explains why a body could not be decoded.
func badJSON(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var detail string
	switch {
	case errors.As(err, &mbe):
		return asHTTPError(err)
	case errors.Is(err, io.EOF):
		detail = "the body is empty; it must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		detail = "the JSON ends too early"
	case errors.As(err, &syn):
		detail = fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			detail = fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)
		} else {
			detail = fmt.Sprintf("field %q must be a %s, not %s", typ.Field, typ.Type, typ.Value)
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		detail = "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		detail = "the body is not valid JSON"
	}
	return newError(http.StatusBadRequest, "bad JSON", detail)
}
