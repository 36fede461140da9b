package oauthweb

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wotkit/wotkit/storage"
)

// healthz answers liveness probes.
func healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// metrics serves the Prometheus metrics to a client on this machine
// (loopback), to an admin signed in to the portal, or to HTTP Basic with an
// admin's name and password. Without credentials, or with wrong ones, the
// answer is 401 (which asks for Basic); while failed attempts are throttled,
// 429; to anyone else signed in, 403.
func (p *Portal) metrics(c echo.Context) error {
	status, wait, err := p.metricsAccess(c)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusOK:
		promhttp.HandlerFor(p.cfg.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
		return nil
	case http.StatusUnauthorized:
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="wotkit metrics"`)
		return c.String(status, "metrics are for admins: use HTTP Basic with an admin account\n")
	case http.StatusTooManyRequests:
		c.Response().Header().Set("Retry-After", retryAfter(wait))
		return c.String(status, "too many failed logins; try again later\n")
	default:
		return c.String(status, "metrics are for admins\n")
	}
}

// metricsAccess returns the status metrics answers c with (200 to serve
// them) and, for 429, how long to wait; an error when the store fails.
func (p *Portal) metricsAccess(c echo.Context) (int, time.Duration, error) {
	if host, _, err := net.SplitHostPort(c.Request().RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return http.StatusOK, 0, nil
		}
	}
	if s := sessionOf(c); s != nil {
		if s.user.Admin {
			return http.StatusOK, 0, nil
		}
		return http.StatusForbidden, 0, nil
	}
	name, pw, ok := c.Request().BasicAuth()
	if !ok {
		return http.StatusUnauthorized, 0, nil
	}
	u, wait, err := p.checkPassword(name, pw, c.RealIP())
	switch {
	case wait > 0:
		return http.StatusTooManyRequests, wait, nil
	case errors.Is(err, storage.ErrBadCredentials):
		return http.StatusUnauthorized, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("metrics: check password: %w", err)
	case !u.Admin:
		return http.StatusForbidden, 0, nil
	}
	return http.StatusOK, 0, nil
}
