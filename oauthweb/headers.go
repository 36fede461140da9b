package oauthweb

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// contentSecurityPolicy allows only this origin's own files: no inline script
// or style, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// maxBodyBytes bounds every request body: forms and API documents are small.
const maxBodyBytes = 64 << 10

// securityHeaders sets the security headers on every response, before routing,
// so that errors, 404s and static files carry them too. Responses are not
// stored by caches unless a handler says otherwise (static files do).
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// limitBody caps the request body at maxBodyBytes.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body != nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxBodyBytes)
		}
		return next(c)
	}
}
