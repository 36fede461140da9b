package oauthweb

import (
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers liveness probes.
func healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// metrics serves the Prometheus metrics to a client on this machine
// (loopback), to an admin signed in to the portal, or to HTTP Basic with an
// admin's name and password; anyone else gets 403 (401 asks for Basic).
func (p *Portal) metrics(c echo.Context) error {
	if !p.mayReadMetrics(c) {
		if _, _, ok := c.Request().BasicAuth(); !ok && sessionOf(c) == nil {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="wotkit metrics"`)
			return c.String(http.StatusUnauthorized, "metrics are for admins: use HTTP Basic with an admin account\n")
		}
		return c.String(http.StatusForbidden, "metrics are for admins\n")
	}
	promhttp.HandlerFor(p.cfg.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

func (p *Portal) mayReadMetrics(c echo.Context) bool {
	if host, _, err := net.SplitHostPort(c.Request().RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	if s := sessionOf(c); s != nil {
		return s.user.Admin
	}
	name, pw, ok := c.Request().BasicAuth()
	if !ok {
		return false
	}
	u, wait, err := p.checkPassword(name, pw, c.RealIP())
	return wait == 0 && err == nil && u.Admin
}
